// MD5, SHA-1 and SHA-256 of raw bytes through OpenSSL's EVP interface.
#include <openssl/evp.h>

#include <memory>

#include "engine/hash/hash.h"

namespace hashmatch::hash {
namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

// Hashes `bytes` with `md` into `out` (exactly EVP_MD_get_size(md) bytes).
absl::Status Digest(const EVP_MD* md, std::span<const std::uint8_t> bytes, std::uint8_t* out) {
  MdCtx ctx(EVP_MD_CTX_new());
  unsigned int size = 0;
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out, &size) != 1) {
    return absl::InternalError("OpenSSL digest failed");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Digests> ComputeDigests(std::span<const std::uint8_t> bytes) {
  Digests d;
  HM_RETURN_IF_ERROR(Digest(EVP_md5(), bytes, d.md5.bytes.data()));
  HM_RETURN_IF_ERROR(Digest(EVP_sha1(), bytes, d.sha1.bytes.data()));
  HM_RETURN_IF_ERROR(Digest(EVP_sha256(), bytes, d.sha256.bytes.data()));
  return d;
}

}  // namespace hashmatch::hash

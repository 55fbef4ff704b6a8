#include "engine/bundle/internal/ed25519.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"

namespace hashmatch::bundle {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct FileClose {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using File = std::unique_ptr<std::FILE, FileClose>;

constexpr std::size_t kPublicKeyBytes = 32;
constexpr std::size_t kSignatureBytes = 64;

// Creates `path` with `mode` (O_EXCL: never overwrites) as a stdio stream.
absl::StatusOr<File> CreateExclusive(const std::string& path, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return absl::AlreadyExistsError(path + " exists; not overwriting a key");
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  return File(fdopen(fd, "w"));
}

absl::StatusOr<File> OpenForReading(const std::string& path) {
  File f(std::fopen(path.c_str(), "r"));
  if (!f)
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  return f;
}

absl::StatusOr<std::string> RawPublicKey(EVP_PKEY* key, const std::string& path) {
  std::string raw(kPublicKeyBytes, '\0');
  std::size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &size) != 1 ||
      size != kPublicKeyBytes) {
    return absl::InvalidArgumentError(path + ": not an Ed25519 key");
  }
  return raw;
}

}  // namespace

absl::Status WriteKeyPair(const std::string& prefix) {
  const std::string key_path = prefix + ".key", pub_path = prefix + ".pub";
  if (std::filesystem::exists(key_path) || std::filesystem::exists(pub_path)) {
    return absl::AlreadyExistsError(
        absl::StrCat(key_path, " or ", pub_path, " exists; not overwriting a key"));
  }
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return absl::InternalError("Ed25519 key generation failed (OpenSSL)");
  {
    HM_ASSIGN_OR_RETURN(File out, CreateExclusive(key_path, 0600));
    if (PEM_write_PrivateKey(out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        std::fflush(out.get()) != 0 || fsync(fileno(out.get())) != 0) {
      return absl::DataLossError("cannot write " + key_path);
    }
  }
  HM_ASSIGN_OR_RETURN(File out, CreateExclusive(pub_path, 0644));
  if (PEM_write_PUBKEY(out.get(), key.get()) != 1 || std::fflush(out.get()) != 0) {
    return absl::DataLossError("cannot write " + pub_path);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadPublicKey(const std::string& path) {
  HM_ASSIGN_OR_RETURN(File in, OpenForReading(path));
  Pkey key(PEM_read_PUBKEY(in.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError(path + ": not a PEM public key");
  return RawPublicKey(key.get(), path);
}

namespace internal {

absl::StatusOr<Signature> SignDigest(const std::string& private_key_path, const Sha256& digest) {
  HM_ASSIGN_OR_RETURN(File in, OpenForReading(private_key_path));
  Pkey key(PEM_read_PrivateKey(in.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError(private_key_path + ": not a PEM private key");
  Signature out;
  HM_ASSIGN_OR_RETURN(out.public_key, RawPublicKey(key.get(), private_key_path));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  out.signature.resize(kSignatureBytes);
  std::size_t size = out.signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.signature.data()), &size,
                     digest.bytes.data(), digest.bytes.size()) != 1 ||
      size != kSignatureBytes) {
    return absl::InternalError("Ed25519 signing failed (OpenSSL)");
  }
  return out;
}

bool VerifyDigest(std::string_view public_key, const Sha256& digest, std::string_view signature) {
  if (public_key.size() != kPublicKeyBytes || signature.size() != kSignatureBytes) return false;
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                       reinterpret_cast<const unsigned char*>(public_key.data()),
                                       public_key.size()));
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(), digest.bytes.data(), digest.bytes.size()) == 1;
}

}  // namespace internal

std::string KeyFingerprint(std::string_view public_key) {
  Sha256 digest;
  SHA256(reinterpret_cast<const unsigned char*>(public_key.data()), public_key.size(),
         digest.bytes.data());
  return digest.ToHex().substr(0, 16);
}

}  // namespace hashmatch::bundle

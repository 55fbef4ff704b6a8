// engine/bundle/internal/ed25519: signing and verifying a 32-byte digest with an agency's Ed25519
// key (OpenSSL EVP). The key files themselves are declared in engine/bundle/bundle.h. Internal to
// engine/bundle. Thread-safe (no shared state).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/core/core.h"

namespace hashmatch::bundle::internal {

struct Signature {
  std::string public_key;  // raw, 32 bytes
  std::string signature;   // 64 bytes
};
// Signs `digest` with the private key in a PREFIX.key file.
[[nodiscard]] absl::StatusOr<Signature> SignDigest(const std::string& private_key_path,
                                                   const Sha256& digest);

// Whether `signature` is `public_key`'s signature of `digest` (false for malformed inputs).
bool VerifyDigest(std::string_view public_key, const Sha256& digest, std::string_view signature);

}  // namespace hashmatch::bundle::internal

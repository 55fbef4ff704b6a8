// tools/common/ed25519: agency signing keys (OpenSSL EVP, Ed25519).
//
// Owns the key files — PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SubjectPublicKeyInfo
// PEM) — and signing or verifying a 32-byte digest with them. Keys are handled as raw 32-byte
// public keys everywhere else (bundles, the server's agency table).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/core/core.h"

namespace hashmatch::tools {

// Writes a new key pair; refuses (AlreadyExists) to overwrite either file.
absl::Status WriteKeyPair(const std::string& prefix);

// The raw 32-byte public key in a PREFIX.pub file.
absl::StatusOr<std::string> ReadPublicKey(const std::string& path);

struct Signature {
  std::string public_key;  // raw, 32 bytes
  std::string signature;   // 64 bytes
};
// Signs `digest` with the private key in a PREFIX.key file.
absl::StatusOr<Signature> SignDigest(const std::string& private_key_path, const Sha256& digest);

// Whether `signature` is `public_key`'s signature of `digest` (false for malformed inputs).
bool VerifyDigest(std::string_view public_key, const Sha256& digest, std::string_view signature);

// Short printable id of a raw public key: the first 16 hex digits of its SHA-256.
std::string KeyFingerprint(std::string_view public_key);

}  // namespace hashmatch::tools

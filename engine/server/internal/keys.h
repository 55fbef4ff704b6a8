// engine/server/internal/keys: the API key table (DIR/keys.db).
//
// Owns the keys: one role each, a label, a rate, created/revoked times, and the SHA-256 digest of
// the secret, never the secret itself (it is returned once, by Create). Authenticate is on every
// RPC's path, so the active keys are also held in memory; this process is the table's only writer.
// Internal to engine/server. Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/server/internal/auth.h"

namespace hashmatch::server {

struct ApiKeyInfo {
  std::string key_id;  // public: appears in audit records and logs
  Role role = Role::kPlatform;
  std::string label;
  std::int64_t created_ms = 0;
  std::int64_t revoked_ms = 0;  // 0: active
  double rate_per_second = 0;   // 0: the server's default
};

struct NewApiKey {
  std::string secret;  // show once
  ApiKeyInfo info;
};

class KeyTable {
 public:
  virtual ~KeyTable() = default;
  // Label at most 256 bytes; rate >= 0.
  [[nodiscard]] virtual absl::StatusOr<NewApiKey> Create(Role role, std::string_view label,
                                                         double rate_per_second) = 0;
  // The active key with this secret; Unauthenticated otherwise (unknown, malformed or revoked:
  // the message does not say which).
  [[nodiscard]] virtual absl::StatusOr<ApiKeyInfo> Authenticate(std::string_view secret) const = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<ApiKeyInfo>> List() const = 0;
  // NotFound for an unknown id; revoking twice is a no-op.
  [[nodiscard]] virtual absl::Status Revoke(std::string_view key_id) = 0;
};

[[nodiscard]] absl::StatusOr<std::unique_ptr<KeyTable>> OpenKeyTable(const std::string& path);

}  // namespace hashmatch::server

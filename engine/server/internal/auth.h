// engine/server/internal/auth: who may call what.
//
// Owns the roles of DESIGN.md, the one table every RPC is authorised against (MayCall), and API
// key secrets: random 256-bit values shown once to their holder, of which only the SHA-256
// digest is ever stored or compared. Also the one rule of what status a role's new descriptors
// get. Internal to engine/server. Pure functions and constant tables: thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/core/core.h"

namespace hashmatch::server {

// Values equal hashmatch.v1.Role in proto/hashmatch/v1/admin.proto.
enum class Role { kPlatform = 1, kIct = 2, kPolice = 3, kAdmin = 4 };

std::string_view RoleName(Role role);  // "platform", "ict", "police", "admin"
std::optional<Role> ParseRole(std::string_view name);

// The status of descriptors a role adds (AddDescriptors, PushBundle): police add VERIFIED
// descriptors, everyone else (ict) CANDIDATEs for police review. The one place this rule lives.
DescriptorStatus StatusOfDescriptorsAddedBy(Role role);

// Whether `role` may call `method`, a gRPC full method name such as
// "/hashmatch.v1.MatchService/MatchHashes". Methods not in the table: nobody.
bool MayCall(Role role, std::string_view method);
// Every method the table knows, for tests that compare it with the API.
std::span<const std::string_view> KnownMethods();

// A new key secret: "hm_" + 64 hex digits from the OS's CSPRNG (OpenSSL RAND_bytes).
[[nodiscard]] absl::StatusOr<std::string> NewKeySecret();
// SHA-256 of the secret, hex: what the key table stores and what a presented key is compared by.
std::string KeyDigest(std::string_view secret);

}  // namespace hashmatch::server

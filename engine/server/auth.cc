#include "engine/server/internal/auth.h"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>

#include "engine/core/core.h"

namespace hashmatch::server {
namespace {

constexpr int kPlatform = 1 << static_cast<int>(Role::kPlatform);
constexpr int kIct = 1 << static_cast<int>(Role::kIct);
constexpr int kPolice = 1 << static_cast<int>(Role::kPolice);
constexpr int kAdmin = 1 << static_cast<int>(Role::kAdmin);

struct Rule {
  std::string_view method;
  int roles;  // bit per Role
};

// The role table of DESIGN.md, per RPC. Keep in step with the role lines in the .proto comments.
constexpr std::array kRules = {
    Rule{"/hashmatch.v1.MatchService/MatchMedia", kPlatform | kIct | kPolice},
    Rule{"/hashmatch.v1.MatchService/MatchHashes", kPlatform | kIct | kPolice},
    Rule{"/hashmatch.v1.MatchService/MatchVideo", kPlatform | kIct | kPolice},
    Rule{"/hashmatch.v1.IngestService/AddDescriptors", kIct | kPolice},
    Rule{"/hashmatch.v1.IngestService/SetStatus", kPolice},
    Rule{"/hashmatch.v1.IngestService/GetDescriptor", kIct | kPolice},
    Rule{"/hashmatch.v1.IngestService/ListDescriptors", kIct | kPolice},
    Rule{"/hashmatch.v1.IngestService/GetBundleUpload", kIct | kPolice},
    Rule{"/hashmatch.v1.IngestService/PushBundle", kIct | kPolice},
    Rule{"/hashmatch.v1.AdminService/GetStats", kAdmin},
    Rule{"/hashmatch.v1.AdminService/CreateApiKey", kAdmin},
    Rule{"/hashmatch.v1.AdminService/ListApiKeys", kAdmin},
    Rule{"/hashmatch.v1.AdminService/RevokeApiKey", kAdmin},
    Rule{"/hashmatch.v1.AdminService/VerifyAudit", kAdmin},
    Rule{"/hashmatch.v1.AdminService/AddAgencyKey", kAdmin},
    Rule{"/hashmatch.v1.AdminService/ListAgencyKeys", kAdmin},
    Rule{"/hashmatch.v1.AdminService/RevokeAgencyKey", kAdmin},
};

constexpr std::array<std::string_view, kRules.size()> MethodNames() {
  std::array<std::string_view, kRules.size()> names{};
  for (std::size_t i = 0; i < kRules.size(); ++i) names[i] = kRules[i].method;
  return names;
}
constexpr std::array kMethodNames = MethodNames();

}  // namespace

DescriptorStatus StatusOfDescriptorsAddedBy(Role role) {
  return role == Role::kPolice ? DescriptorStatus::kVerified : DescriptorStatus::kCandidate;
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kPlatform:
      return "platform";
    case Role::kIct:
      return "ict";
    case Role::kPolice:
      return "police";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::optional<Role> ParseRole(std::string_view name) {
  for (const Role role : {Role::kPlatform, Role::kIct, Role::kPolice, Role::kAdmin}) {
    if (RoleName(role) == name) return role;
  }
  return std::nullopt;
}

bool MayCall(Role role, std::string_view method) {
  for (const Rule& rule : kRules) {
    if (rule.method == method) return (rule.roles & (1 << static_cast<int>(role))) != 0;
  }
  return false;
}

std::span<const std::string_view> KnownMethods() { return kMethodNames; }

absl::StatusOr<std::string> NewKeySecret() {
  Sha256 random;  // 32 bytes, printed as hex
  if (RAND_bytes(random.bytes.data(), static_cast<int>(random.bytes.size())) != 1) {
    return absl::InternalError("OpenSSL RAND_bytes failed: no key was made");
  }
  return "hm_" + random.ToHex();
}

std::string KeyDigest(std::string_view secret) {
  Sha256 digest;
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), digest.bytes.data());
  return digest.ToHex();
}

}  // namespace hashmatch::server

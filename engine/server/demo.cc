#include "engine/server/internal/demo.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "engine/describe/describe.h"
#include "engine/sys/sys.h"

namespace hashmatch::server {
namespace {

constexpr Role kRoles[] = {Role::kPlatform, Role::kIct, Role::kPolice, Role::kAdmin};
constexpr std::size_t kMaxDemoFileBytes = std::size_t{64} << 20;
constexpr std::size_t kMaxKeyFileBytes = 64 << 10;

}  // namespace

absl::StatusOr<std::size_t> LoadDemoDescriptors(const std::vector<std::string>& folders,
                                                index::Store* store) {
  HM_ASSIGN_OR_RETURN(const std::vector<std::string> files, sys::ListInputFiles(folders));
  describe::DescribeOptions options;
  options.image_limits.max_bytes = kMaxDemoFileBytes;
  options.video_limits.max_bytes = kMaxDemoFileBytes;
  describe::Describer describer(options);
  std::vector<index::NewDescriptor> items;
  for (const std::string& file : files) {
    const absl::StatusOr<describe::Descriptors> d = describer.DescribeFile(file);
    if (!d.ok()) continue;  // the folders hold non-media too (README, sources)
    for (describe::DescriptorValue& v : describe::Values(*d)) {
      items.push_back(
          {v.signal, std::move(v.value), v.quality, "demo", DescriptorStatus::kVerified});
    }
  }
  HM_RETURN_IF_ERROR(store->Add({"demo", "", "hashmatchd --demo", ""}, items).status());
  return items.size();
}

absl::StatusOr<bool> EnsureDemoKeys(const std::string& path, KeyTable* keys) {
  if (std::filesystem::exists(path)) {
    HM_ASSIGN_OR_RETURN(const std::string text, sys::ReadFileBoundedString(path, kMaxKeyFileBytes));
    const nlohmann::json existing =
        nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    bool valid = existing.is_object();
    for (const Role role : kRoles) {
      if (!valid) break;
      const auto it = existing.find(std::string(RoleName(role)));
      valid = it != existing.end() && it->is_string() &&
              keys->Authenticate(it->get<std::string>()).ok();
    }
    if (valid) return true;
  }
  nlohmann::json created = nlohmann::json::object();
  for (const Role role : kRoles) {
    HM_ASSIGN_OR_RETURN(const auto key, keys->Create(role, "demo", 0));
    created[std::string(RoleName(role))] = key.secret;
  }
  HM_RETURN_IF_ERROR(sys::WriteFileAtomic(path, created.dump(2) + "\n", 0600));
  return false;
}

}  // namespace hashmatch::server

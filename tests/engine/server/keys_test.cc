// The API key table against a real SQLite file: roles, revocation, restart, no secret on disk.
#include "engine/server/internal/keys.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "tests/testing/temp_dir.h"

namespace hashmatch::server {
namespace {

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST_CASE("keys authenticate by secret, revoke, survive a restart and never store the secret",
          "[server][keys]") {
  hashmatch::testing::TempDir dir;
  const std::string path = dir.File("keys.db");
  std::string police_secret, platform_secret, platform_id;
  {
    auto keys = *OpenKeyTable(path);
    const NewApiKey police = *keys->Create(Role::kPolice, "unit 7", 0);
    const NewApiKey platform = *keys->Create(Role::kPlatform, "example platform", 50);
    police_secret = police.secret;
    platform_secret = platform.secret;
    platform_id = platform.info.key_id;
    CHECK(keys->Authenticate(police_secret)->role == Role::kPolice);
    const ApiKeyInfo info = *keys->Authenticate(platform_secret);
    CHECK(info.key_id == platform_id);
    CHECK(info.rate_per_second == 50);
    CHECK(info.label == "example platform");
    const absl::Status wrong = keys->Authenticate(police_secret + "x").status();
    CHECK(wrong.code() == absl::StatusCode::kUnauthenticated);
    CHECK(keys->Authenticate("").status().code() == absl::StatusCode::kUnauthenticated);

    CHECK(keys->Create(Role::kAdmin, std::string(257, 'l'), 0).status().code() ==
          absl::StatusCode::kInvalidArgument);
    CHECK(keys->Create(Role::kAdmin, "ops", -1).status().code() ==
          absl::StatusCode::kInvalidArgument);
    CHECK(keys->Revoke("k_nope").code() == absl::StatusCode::kNotFound);
    REQUIRE(keys->Revoke(platform_id).ok());
    CHECK(keys->Revoke(platform_id).ok());  // twice: no-op
    CHECK(keys->Authenticate(platform_secret).status().code() ==
          absl::StatusCode::kUnauthenticated);
  }
  auto keys = *OpenKeyTable(path);
  CHECK(keys->Authenticate(police_secret)->role == Role::kPolice);
  CHECK(keys->Authenticate(platform_secret).status().code() == absl::StatusCode::kUnauthenticated);
  const std::vector<ApiKeyInfo> listed = *keys->List();
  REQUIRE(listed.size() == 2);
  // Both keys may carry the same millisecond: find the platform key by id, not by position.
  const bool platform_first = listed[0].key_id == platform_id;
  const ApiKeyInfo& listed_platform = listed[platform_first ? 0 : 1];
  CHECK(listed_platform.key_id == platform_id);
  CHECK(listed_platform.revoked_ms > 0);
  CHECK(listed[platform_first ? 1 : 0].revoked_ms == 0);

  // Only digests reach the disk (the database and its WAL).
  const std::string on_disk = FileBytes(path) + FileBytes(path + "-wal");
  CHECK(on_disk.find(police_secret) == std::string::npos);
  CHECK(on_disk.find(platform_secret.substr(3)) == std::string::npos);
  CHECK(on_disk.find(KeyDigest(police_secret)) != std::string::npos);
}

}  // namespace
}  // namespace hashmatch::server

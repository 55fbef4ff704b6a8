// The bundle inbox against a real data folder: agency keys, staged uploads that resume after a
// reopen, one claim per upload, and the record of imports.
#include "engine/server/internal/bundles.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "tests/testing/temp_dir.h"

namespace hashmatch::server {
namespace {

const std::string kFile(64, 'a');  // a file SHA-256 (hex)

TEST_CASE("agency keys are registered once, listed and revoked", "[server][bundles]") {
  hashmatch::testing::TempDir dir;
  auto inbox = *BundleInbox::Open(dir.path.string(), 1 << 20);
  const std::string key(32, '\x07');
  const AgencyKey added = *inbox->AddAgencyKey("Unit 7", key);
  CHECK(added.fingerprint.size() == 16);
  CHECK(inbox->AddAgencyKey("Other", key).status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(inbox->AddAgencyKey("", std::string(32, '\x08')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(inbox->AddAgencyKey("bad\nname", std::string(32, '\x08')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(inbox->AddAgencyKey("Unit 8", std::string(31, '\x08')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  REQUIRE((*inbox->ActiveAgencyKey(key)).has_value());
  CHECK((*inbox->ActiveAgencyKey(key))->agency == "Unit 7");
  CHECK_FALSE((*inbox->ActiveAgencyKey(std::string(32, '\x09'))).has_value());

  CHECK(inbox->RevokeAgencyKey("0000000000000000").code() == absl::StatusCode::kNotFound);
  REQUIRE(inbox->RevokeAgencyKey(added.fingerprint).ok());
  CHECK(inbox->RevokeAgencyKey(added.fingerprint).ok());  // twice: no-op
  CHECK_FALSE((*inbox->ActiveAgencyKey(key)).has_value());
  const std::vector<AgencyKey> listed = *inbox->ListAgencyKeys();
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].revoked_ms > 0);
}

TEST_CASE("an upload is staged per key and file, survives a reopen, and is held by one call",
          "[server][bundles]") {
  hashmatch::testing::TempDir dir;
  {
    auto inbox = *BundleInbox::Open(dir.path.string(), 10);
    CHECK(inbox->StagedBytes("k_1", "not-hex").status().code() ==
          absl::StatusCode::kInvalidArgument);
    auto upload = *inbox->Claim("k_1", kFile);
    CHECK(inbox->Claim("k_1", kFile).status().code() == absl::StatusCode::kAborted);
    CHECK(inbox->Claim("k_2", kFile).ok());  // another key: another upload
    REQUIRE(upload->Append("abcd").ok());
    REQUIRE(upload->Append("ef").ok());
    CHECK(upload->Append("toolong").code() == absl::StatusCode::kResourceExhausted);
    CHECK(*upload->ReadAll() == "abcdef");
  }
  auto inbox = *BundleInbox::Open(dir.path.string(), 10);
  CHECK(*inbox->StagedBytes("k_1", kFile) == 6);
  CHECK(*inbox->StagedBytes("k_2", kFile) == 0);
  auto upload = *inbox->Claim("k_1", kFile);  // released when the first holder went away
  CHECK(upload->size() == 6);
  upload->Discard();
  CHECK(*inbox->StagedBytes("k_1", kFile) == 0);
}

TEST_CASE("uploads untouched for too long are deleted when the inbox opens", "[server][bundles]") {
  hashmatch::testing::TempDir dir;
  const std::string recent(64, 'b');
  {
    auto inbox = *BundleInbox::Open(dir.path.string(), 100);
    REQUIRE((*inbox->Claim("k_1", kFile))->Append("old").ok());
    REQUIRE((*inbox->Claim("k_1", recent))->Append("new").ok());
  }
  const auto old_file = dir.path / "uploads" / ("k_1." + kFile + ".part");
  REQUIRE(std::filesystem::exists(old_file));
  std::filesystem::last_write_time(
      old_file, std::filesystem::file_time_type::clock::now() - std::chrono::hours(2));
  auto inbox = *BundleInbox::Open(dir.path.string(), 100, std::chrono::hours(1));
  CHECK(*inbox->StagedBytes("k_1", kFile) == 0);
  CHECK(*inbox->StagedBytes("k_1", recent) == 3);
}

TEST_CASE("imports are recorded per file and status", "[server][bundles]") {
  hashmatch::testing::TempDir dir;
  auto inbox = *BundleInbox::Open(dir.path.string(), 1 << 20);
  CHECK_FALSE((*inbox->FindImport(kFile, DescriptorStatus::kVerified)).has_value());
  BundleImport import;
  import.bundle_id = std::string(64, 'b');
  import.records = 5;
  import.added = 3;
  import.merged = 2;
  import.status = DescriptorStatus::kVerified;
  import.agency = "Unit 7";
  import.commit_seq = 42;
  REQUIRE(inbox->RecordImport(kFile, "k_1", import).ok());
  const std::optional<BundleImport> found = *inbox->FindImport(kFile, DescriptorStatus::kVerified);
  REQUIRE(found.has_value());
  CHECK(found->bundle_id == import.bundle_id);
  CHECK(found->added == 3);
  CHECK(found->merged == 2);
  CHECK(found->commit_seq == 42);
  CHECK_FALSE((*inbox->FindImport(kFile, DescriptorStatus::kCandidate)).has_value());
}

}  // namespace
}  // namespace hashmatch::server

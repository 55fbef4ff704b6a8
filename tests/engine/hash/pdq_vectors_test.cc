// The contract: Meta's reference pdq-photo-hasher outputs for the shared test data
// (../shared/testdata/pdq: expected.tsv, dihedral.tsv, variants.tsv, upstream/).
#include <catch2/catch.hpp>
#include <cstdio>

#include "tests/engine/hash/test_images.h"

namespace hashmatch::hash {
namespace {

using testing::ReadBytes;
using testing::ReadTsv;
using testing::TestdataPath;

absl::StatusOr<PdqHash> HashFile(PdqHasher& hasher, const std::string& path) {
  const std::vector<std::uint8_t> bytes = ReadBytes(path);
  HM_ASSIGN_OR_RETURN(const media::Image image, media::DecodeImage(bytes));
  return hasher.Hash(testing::View(image));
}

absl::StatusOr<PdqDihedralHashes> HashFileDihedral(PdqHasher& hasher, const std::string& path) {
  const std::vector<std::uint8_t> bytes = ReadBytes(path);
  HM_ASSIGN_OR_RETURN(const media::Image image, media::DecodeImage(bytes));
  return hasher.HashDihedral(testing::View(image));
}

TEST_CASE("every expected.tsv hash and quality is identical to the reference", "[pdq][vectors]") {
  const auto rows = ReadTsv(TestdataPath("pdq/expected.tsv"));
  REQUIRE(rows.size() == 64);
  PdqHasher hasher;
  int identical = 0, refused_too_small = 0;
  for (const auto& row : rows) {
    INFO(row[0]);
    const auto result = HashFile(hasher, TestdataPath("pdq/" + row[0]));
    if (row[1] == std::string(64, '0')) {
      // The reference's "all-zero hash, quality 0" for images under 5 px is an error here.
      REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
      CHECK(std::string(result.status().message()).find("at least 5") != std::string::npos);
      ++refused_too_small;
      continue;
    }
    REQUIRE(result.ok());
    // e01 is flat grey: its bits are float noise, allowed to differ (they do not today).
    if (row[0].find("e01-flat") == std::string::npos) {
      CHECK(result->hash.ToHex() == row[1]);
      CHECK(result->quality == std::stoi(row[2]));
    }
    identical += result->hash.ToHex() == row[1] && result->quality == std::stoi(row[2]);
  }
  std::printf("expected.tsv: %d of %zu identical, %d refused as too small\n", identical,
              rows.size(), refused_too_small);
  CHECK(refused_too_small == 2);
  // README: every hashable image (62) identical, e01-flat included.
  CHECK(identical == static_cast<int>(rows.size()) - refused_too_small);
}

TEST_CASE("every dihedral.tsv row is identical to the reference", "[pdq][vectors]") {
  const auto rows = ReadTsv(TestdataPath("pdq/dihedral.tsv"));
  REQUIRE(rows.size() == 64);
  PdqHasher hasher;
  int identical = 0, compared = 0;
  for (const auto& row : rows) {
    INFO(row[0]);
    REQUIRE(row.size() == 10);
    if (row[2] == std::string(64, '0')) continue;  // too small: covered above
    const auto result = HashFileDihedral(hasher, TestdataPath("pdq/" + row[0]));
    REQUIRE(result.ok());
    ++compared;
    bool all = result->quality == std::stoi(row[1]);
    for (int d = 0; d < 8; ++d) {
      INFO(kDihedralNames[d]);
      CHECK(result->hashes[d].ToHex() == row[2 + d]);
      all = all && result->hashes[d].ToHex() == row[2 + d];
    }
    identical += all;
  }
  std::printf("dihedral.tsv: %d of %d rows identical (8 hashes + quality each)\n", identical,
              compared);
  CHECK(compared == 62);
  CHECK(identical == compared);
}

TEST_CASE("every variants.tsv hash is identical to the reference", "[pdq][vectors]") {
  const auto rows = ReadTsv(TestdataPath("pdq/variants.tsv"));
  REQUIRE(rows.size() == 396);
  PdqHasher hasher;
  int identical = 0;
  for (const auto& row : rows) {
    INFO(row[1]);
    const auto result = HashFile(hasher, TestdataPath("pdq/" + row[1]));
    REQUIRE(result.ok());
    CHECK(result->hash.ToHex() == row[3]);
    CHECK(result->quality == std::stoi(row[4]));
    identical += result->hash.ToHex() == row[3] && result->quality == std::stoi(row[4]);
  }
  std::printf("variants.tsv: %d of %zu identical\n", identical, rows.size());
  CHECK(identical == 396);
}

TEST_CASE("upstream ThreatExchange images match the reference", "[pdq][vectors]") {
  const auto rows = ReadTsv(TestdataPath("pdq/upstream/pdq/expected-cpp-reference.tsv"));
  REQUIRE(rows.size() == 14);
  PdqHasher hasher;
  int identical = 0;
  for (const auto& row : rows) {
    INFO(row[0]);
    const auto result = HashFile(hasher, TestdataPath("pdq/upstream/pdq/" + row[0]));
    REQUIRE(result.ok());
    CHECK(result->hash.ToHex() == row[1]);
    CHECK(result->quality == std::stoi(row[2]));
    identical += result->hash.ToHex() == row[1];
  }
  std::printf("upstream: %d of %zu identical\n", identical, rows.size());
}

}  // namespace
}  // namespace hashmatch::hash

// Descriptor bundles and agency keys against real files: round trip, signatures, and every kind
// of damage refused with where it is.
#include "engine/bundle/bundle.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace hashmatch::bundle {
namespace {

namespace v1 = ::hashmatch::v1;

std::vector<v1::BundleRecord> Records(int n) {
  std::mt19937_64 rng(7);
  std::vector<v1::BundleRecord> records;
  for (int i = 0; i < n; ++i) {
    v1::BundleRecord& r = records.emplace_back();
    const bool pdq = i % 2 == 0;
    r.mutable_hash()->set_signal(pdq ? v1::SIGNAL_PDQ : v1::SIGNAL_MD5);
    std::string value(pdq ? 32 : 16, '\0');
    for (char& c : value) c = static_cast<char>(rng());
    r.mutable_hash()->set_raw(value);
    if (pdq) r.mutable_hash()->set_quality(90);
    r.set_category("A");
  }
  return records;
}

v1::BundleHeader Header() {
  v1::BundleHeader h;
  h.set_agency("C50");
  h.set_case_ref("case-1");
  return h;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("a bundle round-trips, and a signature holds only for its key and contents",
          "[tools][bundle]") {
  hashmatch::testing::TempDir dir;
  const std::string path = dir.File("b.bundle"), prefix = dir.File("police");
  REQUIRE(WriteKeyPair(prefix).ok());
  CHECK(WriteKeyPair(prefix).code() == absl::StatusCode::kAlreadyExists);  // never overwrites
  struct stat st {};
  REQUIRE(stat((prefix + ".key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(WriteKeyPair(dir.File("other")).ok());
  const std::string police = *ReadPublicKey(prefix + ".pub");
  const std::string other = *ReadPublicKey(dir.File("other.pub"));

  REQUIRE(WriteBundle(path, Header(), Records(10)).ok());
  absl::StatusOr<Bundle> read = ReadBundle(path);
  REQUIRE(read.ok());
  CHECK(read->header.count() == 10);
  CHECK(read->header.agency() == "C50");
  CHECK(read->header.bundle_id().size() == 64);
  CHECK(read->records[4].SerializeAsString() == Records(10)[4].SerializeAsString());
  CHECK(VerifyBundle(*read, police).code() == absl::StatusCode::kUnauthenticated);  // unsigned

  REQUIRE(SignBundleFile(path, prefix + ".key").ok());
  read = ReadBundle(path);
  REQUIRE(read.ok());
  CHECK(VerifyBundle(*read, police).ok());
  const absl::Status wrong_key = VerifyBundle(*read, other);
  CHECK(wrong_key.code() == absl::StatusCode::kUnauthenticated);
  CHECK(std::string(wrong_key.message()).find("signed by key " + KeyFingerprint(police)) !=
        std::string::npos);
  // Re-signing replaces the signature instead of stacking a second one.
  REQUIRE(SignBundleFile(path, dir.File("other.key")).ok());
  CHECK(VerifyBundle(*ReadBundle(path), other).ok());
  CHECK(!VerifyBundle(*ReadBundle(path), police).ok());
}

TEST_CASE("damaged or altered bundles are refused whole, saying where", "[tools][bundle]") {
  hashmatch::testing::TempDir dir;
  const std::string path = dir.File("b.bundle"), prefix = dir.File("k");
  REQUIRE(WriteKeyPair(prefix).ok());
  REQUIRE(WriteBundle(path, Header(), Records(6)).ok());
  REQUIRE(SignBundleFile(path, prefix + ".key").ok());
  const std::string key = *ReadPublicKey(prefix + ".pub");
  const std::string good = ReadAll(path);
  REQUIRE(ParseBundle(good).ok());

  SECTION("every truncation is an error, never a crash or a shorter bundle") {
    for (std::size_t n = 0; n < good.size(); ++n) {
      const absl::StatusOr<Bundle> b = ParseBundle(good.substr(0, n));
      // Cut exactly before the signature: a valid but unsigned bundle, which verify refuses.
      if (b.ok()) {
        CHECK(!b->signature);
        CHECK(!VerifyBundle(*b, key).ok());
      }
    }
  }
  SECTION("a flipped bit anywhere fails parsing or verification") {
    for (std::size_t at = 0; at < good.size(); at += 7) {
      std::string bad = good;
      bad[at] ^= 0x10;
      const absl::StatusOr<Bundle> b = ParseBundle(bad);
      CHECK((!b.ok() || !VerifyBundle(*b, key).ok()));
    }
  }
  SECTION("messages name the problem and its place") {
    CHECK(std::string(ParseBundle("JUNK").status().message()).find("not a bundle") !=
          std::string::npos);
    const std::string cut = good.substr(0, good.size() - 80);
    CHECK(std::string(ParseBundle(cut).status().message()).find("truncated") != std::string::npos);
    const absl::Status trailing = ParseBundle(good + "x").status();
    CHECK(std::string(trailing.message()).find("unexpected bytes after the signature") !=
          std::string::npos);
  }
  SECTION("a header changed after signing keeps its content id but fails the signature") {
    Bundle b = *ParseBundle(good);
    b.header.set_agency("someone else");
    std::string rewritten = dir.File("rewritten.bundle");
    REQUIRE(WriteBundle(rewritten, b.header, b.records).ok());
    std::string bytes = ReadAll(rewritten);
    // Graft the old signature onto the altered bytes.
    bytes += good.substr(good.size() - (1 + b.signature->ByteSizeLong()));  // 1-byte length
    const absl::StatusOr<Bundle> altered = ParseBundle(bytes);
    REQUIRE(altered.ok());
    CHECK(std::string(VerifyBundle(*altered, key).message()).find("altered after signing") !=
          std::string::npos);
  }
}

TEST_CASE("records with wrong fields are refused with their index", "[tools][bundle]") {
  hashmatch::testing::TempDir dir;
  std::vector<v1::BundleRecord> records = Records(4);
  records[3].mutable_hash()->set_raw("short");
  const absl::Status s = WriteBundle(dir.File("b.bundle"), Header(), records);
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("record 3.hash: MD5 value is 5 bytes, expected 16") !=
        std::string::npos);
  records = Records(4);
  records[2].mutable_hash()->clear_quality();
  CHECK(std::string(WriteBundle(dir.File("b.bundle"), Header(), records).message())
            .find("record 2.hash.quality") != std::string::npos);
  CHECK(!WriteBundle(dir.File("b.bundle"), v1::BundleHeader(), Records(1)).ok());  // no agency
}

}  // namespace
}  // namespace hashmatch::bundle

namespace hashmatch::bundle {
namespace {

TEST_CASE("a journal yields its complete records and ignores a torn tail", "[tools][bundle]") {
  const std::vector<hashmatch::v1::BundleRecord> records = Records(5);
  std::string journal;
  for (const auto& r : records) AppendDelimited(r, &journal);
  CHECK(ParseJournal(journal).size() == 5);
  CHECK(ParseJournal(journal.substr(0, journal.size() - 3)).size() == 4);
  CHECK(ParseJournal("").empty());
}

}  // namespace
}  // namespace hashmatch::bundle

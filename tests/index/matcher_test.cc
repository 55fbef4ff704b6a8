// The Matcher over a real SQLite store: exact against faiss::IndexBinaryFlat through adds,
// status changes and merges; status and quality rules; snapshots; concurrent readers + writer.
#include "index/matcher.h"

#include <faiss/IndexBinaryFlat.h>
#include <faiss/impl/AuxIndexStructures.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "tests/index/index_test_util.h"
#include "tests/testing/temp_dir.h"

namespace hashmatch::index {
namespace {

using testing::AsPdq;
using testing::Flipped;
using testing::Pdq;
using testing::Police;
using testing::RandomBytes;
using S = DescriptorStatus;

struct Fixture {
  hashmatch::testing::TempDir dir;
  std::unique_ptr<Store> store = *OpenSqliteStore(dir.File("store.db"));
  std::vector<std::string> logs;

  MatcherOptions Options(bool merge = false) {
    MatcherOptions options;
    options.snapshot_path = dir.File("index.snapshot");
    options.background_merge = merge;
    options.log = [this](std::string_view line) { logs.emplace_back(line); };
    return options;
  }
  std::unique_ptr<Matcher> OpenMatcher(bool merge = false) {
    absl::StatusOr<std::unique_ptr<Matcher>> matcher = Matcher::Open(store.get(), Options(merge));
    REQUIRE(matcher.ok());
    return *std::move(matcher);
  }
  std::vector<DescriptorId> Add(const std::vector<NewDescriptor>& items) {
    const absl::StatusOr<AddResult> result = store->Add(Police(), items);
    REQUIRE(result.ok());
    return result->ids;
  }
};

// What IndexBinaryFlat says the matcher must return: (id, distance) of every VERIFIED entry.
class Oracle {
 public:
  void Add(DescriptorId id, const std::string& value) {
    flat_.add(1, reinterpret_cast<const std::uint8_t*>(value.data()));
    ids_.push_back(id);
  }
  void Exclude(DescriptorId id) { excluded_.insert(id); }
  std::set<std::pair<DescriptorId, int>> Within(const std::string& query, int max_distance) const {
    faiss::RangeSearchResult result(1);
    flat_.range_search(1, reinterpret_cast<const std::uint8_t*>(query.data()), max_distance + 1,
                       &result);
    std::set<std::pair<DescriptorId, int>> out;
    for (std::size_t i = result.lims[0]; i < result.lims[1]; ++i) {
      const DescriptorId id = ids_[result.labels[i]];
      if (!excluded_.count(id)) out.emplace(id, static_cast<int>(result.distances[i]));
    }
    return out;
  }

 private:
  faiss::IndexBinaryFlat flat_{256};
  std::vector<DescriptorId> ids_;
  std::set<DescriptorId> excluded_;
};

std::set<std::pair<DescriptorId, int>> Found(const Matcher& matcher, const std::string& query,
                                             int max_distance) {
  MatchOptions options;
  options.max_distance = max_distance;
  const absl::StatusOr<std::vector<Match>> matches = matcher.MatchPdq(AsPdq(query), options);
  REQUIRE(matches.ok());
  std::set<std::pair<DescriptorId, int>> out;
  for (const Match& m : *matches) out.emplace(m.id, m.distance);
  return out;
}

void CheckExact(const Matcher& matcher, const Oracle& oracle,
                const std::vector<std::string>& queries) {
  std::size_t hits = 0;
  for (const int threshold : {0, 31, 32, 50, 63}) {
    INFO("threshold " << threshold);
    std::vector<Pdq256> batch;
    for (const std::string& q : queries) {
      const auto expected = oracle.Within(q, threshold);
      CHECK(Found(matcher, q, threshold) == expected);
      hits += expected.size();
      batch.push_back(AsPdq(q));
    }
    // The batch path (blocked scans for large radii, several threads) must agree.
    MatchOptions options;
    options.max_distance = threshold;
    const auto results = matcher.MatchPdqBatch(batch, options);
    REQUIRE(results.ok());
    for (std::size_t i = 0; i < queries.size(); ++i) {
      std::set<std::pair<DescriptorId, int>> got;
      for (const Match& m : (*results)[i]) got.emplace(m.id, m.distance);
      CHECK(got == oracle.Within(queries[i], threshold));
    }
  }
  CHECK(hits > 0);
}

TEST_CASE("matcher equals IndexBinaryFlat through adds, retractions and merges",
          "[index][matcher]") {
  Fixture f;
  std::mt19937_64 rng(21);
  Oracle oracle;
  std::vector<std::string> values;
  std::vector<DescriptorId> all_ids;  // a value sent twice (clusters may repeat one) keeps its id
  auto add = [&](int n, bool clustered) {
    std::vector<NewDescriptor> batch;
    const std::string centre = RandomBytes(rng, 32);
    for (int i = 0; i < n; ++i) {
      values.push_back(clustered ? Flipped(rng, centre, static_cast<int>(rng() % 20))
                                 : RandomBytes(rng, 32));
      batch.push_back(Pdq(values.back()));
    }
    const std::vector<DescriptorId> ids = f.Add(batch);
    for (int i = 0; i < n; ++i) oracle.Add(ids[i], batch[i].value);
    all_ids.insert(all_ids.end(), ids.begin(), ids.end());
  };
  auto queries = [&] {
    std::vector<std::string> out;
    for (int round = 0; round < 3; ++round) {
      for (int d : {0, 5, 15, 31, 32, 40, 50, 63}) {
        out.push_back(Flipped(rng, values[rng() % values.size()], d));
      }
    }
    out.push_back(RandomBytes(rng, 32));
    return out;
  };
  for (int i = 0; i < 4; ++i) add(5000, false);
  for (int i = 0; i < 10; ++i) add(300, true);  // near-identical groups
  auto matcher = f.OpenMatcher();
  SECTION("built from the store") { CheckExact(*matcher, oracle, queries()); }
  add(3000, false);
  add(200, true);
  REQUIRE(matcher->CatchUp().ok());
  SECTION("after adds (tail)") { CheckExact(*matcher, oracle, queries()); }
  for (int i = 0; i < 300; ++i) {
    const DescriptorId id = all_ids[rng() % all_ids.size()];
    REQUIRE(f.store->SetStatus(id, S::kRetracted, "p", "test").ok());
    oracle.Exclude(id);
  }
  REQUIRE(matcher->CatchUp().ok());
  SECTION("after retractions") { CheckExact(*matcher, oracle, queries()); }
  matcher->WaitForMerges();
  CHECK(matcher->Stats().segments == 1);
  CHECK(matcher->Stats().tail_entries < 4096);
  SECTION("after merges") { CheckExact(*matcher, oracle, queries()); }
  SECTION("after more adds and a merge into several segments") {
    for (int i = 0; i < 3; ++i) add(4096, false);
    REQUIRE(matcher->CatchUp().ok());
    CHECK(matcher->Stats().tail_entries >= 4096);
    CheckExact(*matcher, oracle, queries());
    matcher->WaitForMerges();
    CheckExact(*matcher, oracle, queries());
    CHECK(matcher->Stats().entries[0] ==
          std::set<DescriptorId>(all_ids.begin(), all_ids.end()).size());
  }
}

TEST_CASE("status and quality rules decide what matches", "[index][matcher]") {
  Fixture f;
  std::mt19937_64 rng(22);
  const std::string verified = RandomBytes(rng, 32), candidate = RandomBytes(rng, 32),
                    rejected = RandomBytes(rng, 32), retracted = RandomBytes(rng, 32),
                    blurry = RandomBytes(rng, 32), md5 = RandomBytes(rng, 16);
  const auto ids = f.Add({Pdq(verified),
                          Pdq(candidate, S::kCandidate),
                          Pdq(rejected, S::kCandidate),
                          Pdq(retracted),
                          Pdq(blurry, S::kVerified, 49),
                          {Signal::kMd5, md5, -1, "A1", S::kCandidate}});
  REQUIRE(f.store->SetStatus(ids[2], S::kRejected, "p", "").ok());
  auto matcher = f.OpenMatcher();  // built with rejected already applied...
  REQUIRE(f.store->SetStatus(ids[3], S::kRetracted, "p", "").ok());
  REQUIRE(matcher->CatchUp().ok());  // ...and retracted applied live

  auto ids_for = [&](const std::string& value, MatchOptions options) {
    const absl::StatusOr<std::vector<Match>> matches =
        matcher->MatchPdq(AsPdq(Flipped(rng, value, 3)), options);
    std::vector<DescriptorId> out;
    for (const Match& m : *matches) out.push_back(m.id);
    return out;
  };
  MatchOptions defaults, candidates, low;
  candidates.include_candidates = true;
  low.include_low_quality = true;
  CHECK(ids_for(verified, defaults) == std::vector<DescriptorId>{ids[0]});
  CHECK(ids_for(candidate, defaults).empty());
  CHECK(ids_for(candidate, candidates) == std::vector<DescriptorId>{ids[1]});
  CHECK(ids_for(rejected, candidates).empty());
  CHECK(ids_for(retracted, candidates).empty());
  CHECK(ids_for(blurry, defaults).empty());
  CHECK(ids_for(blurry, low) == std::vector<DescriptorId>{ids[4]});
  CHECK_FALSE(matcher->MatchDigest(Signal::kMd5, md5)->has_value());
  const auto digest = *matcher->MatchDigest(Signal::kMd5, md5, candidates);
  REQUIRE(digest.has_value());
  CHECK(digest->id == ids[5]);
  CHECK(digest->status == S::kCandidate);

  // Verification makes a candidate match by default, at once.
  REQUIRE(f.store->SetStatus(ids[1], S::kVerified, "p", "").ok());
  REQUIRE(f.store->SetStatus(ids[5], S::kVerified, "p", "").ok());
  REQUIRE(matcher->CatchUp().ok());
  CHECK(ids_for(candidate, defaults) == std::vector<DescriptorId>{ids[1]});
  CHECK(matcher->MatchDigest(Signal::kMd5, md5)->has_value());

  CHECK(matcher->MatchDigest(Signal::kSha1, md5).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(matcher->MatchDigest(Signal::kPdq, verified).status().code() ==
        absl::StatusCode::kInvalidArgument);
  MatchOptions too_far;
  too_far.max_distance = 64;
  CHECK(matcher->MatchPdq(AsPdq(verified), too_far).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("an added descriptor matches as soon as CatchUp returns", "[index][matcher]") {
  Fixture f;
  std::mt19937_64 rng(23);
  f.Add({Pdq(RandomBytes(rng, 32))});
  auto matcher = f.OpenMatcher(/*merge=*/true);
  for (int i = 0; i < 20; ++i) {
    const std::string value = RandomBytes(rng, 32);
    const std::string sha = RandomBytes(rng, 32);
    const auto ids = f.Add({Pdq(value), {Signal::kSha256, sha, -1, "A1", S::kVerified}});
    const std::int64_t seq = *matcher->CatchUp();
    CHECK(seq == *f.store->LastSeq());
    const auto matches = *matcher->MatchPdq(AsPdq(value));
    REQUIRE(matches.size() == 1);
    CHECK(matches[0].id == ids[0]);
    CHECK(matches[0].distance == 0);
    CHECK((*matcher->MatchDigest(Signal::kSha256, sha))->id == ids[1]);
  }
  const auto batch = *matcher->MatchPdqBatch(std::vector<Pdq256>(100, AsPdq(RandomBytes(rng, 32))));
  CHECK(batch.size() == 100);
}

TEST_CASE("snapshots: loaded when valid, rebuilt with a log line when not", "[index][matcher]") {
  Fixture f;
  std::mt19937_64 rng(24);
  std::vector<NewDescriptor> batch;
  for (int i = 0; i < 6000; ++i) batch.push_back(Pdq(RandomBytes(rng, 32)));
  batch.push_back({Signal::kSha1, RandomBytes(rng, 20), -1, "A1", S::kVerified});
  const auto ids = f.Add(batch);
  const std::string probe = Flipped(rng, batch[77].value, 9);
  std::set<std::pair<DescriptorId, int>> before;
  {
    auto matcher = f.OpenMatcher();
    REQUIRE(matcher->WriteSnapshot().ok());
    before = Found(*matcher, probe, 31);
    REQUIRE(before.count({ids[77], 9}) == 1);
  }
  const std::string later = RandomBytes(rng, 32);
  const auto later_ids = f.Add({Pdq(later)});
  REQUIRE(f.store->SetStatus(ids[77], S::kRetracted, "p", "").ok());

  auto reopen_and_check = [&](const std::string& expect_log) {
    f.logs.clear();
    auto matcher = f.OpenMatcher();
    INFO("log: " << (f.logs.empty() ? "" : f.logs[0]));
    REQUIRE_FALSE(f.logs.empty());
    CHECK_THAT(f.logs[0], Catch::Contains(expect_log));
    CHECK(Found(*matcher, probe, 31).count({ids[77], 9}) == 0);      // retraction replayed
    CHECK(Found(*matcher, later, 0).count({later_ids[0], 0}) == 1);  // add replayed
    CHECK((*matcher->MatchDigest(Signal::kSha1, batch.back().value))->id == ids.back());
    CHECK(matcher->Stats().entries[0] == 6001);
  };
  reopen_and_check("loaded snapshot");

  const std::string path = f.dir.File("index.snapshot");
  const auto size = std::filesystem::file_size(path);
  SECTION("a flipped byte") {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(size / 2));
    file.put('\x5a');
    file.close();
    reopen_and_check("checksum mismatch; rebuilding from the store");
  }
  SECTION("a truncated file") {
    std::filesystem::resize_file(path, size - 1000);
    reopen_and_check("rebuilding from the store");
  }
  SECTION("another store's snapshot") {
    hashmatch::testing::TempDir other;
    auto other_store = *OpenSqliteStore(other.File("store.db"));
    MatcherOptions options;
    options.snapshot_path = path;
    options.background_merge = false;
    options.log = [](std::string_view) {};
    REQUIRE(other_store->Add(Police(), std::vector<NewDescriptor>{Pdq(RandomBytes(rng, 32))}).ok());
    REQUIRE((*Matcher::Open(other_store.get(), options))->WriteSnapshot().ok());
    reopen_and_check("was made from another store; rebuilding");
  }
  SECTION("not a snapshot at all") {
    f.dir.Write("index.snapshot", "hello");
    reopen_and_check("truncated");
  }
}

TEST_CASE("concurrent lookups stay exact while a writer adds, retracts and merges",
          "[index][matcher][concurrency]") {
  Fixture f;
  std::mt19937_64 rng(25);
  // Stable entries: always verified, always findable at their planted distance.
  std::vector<std::string> stable;
  std::vector<NewDescriptor> batch;
  for (int i = 0; i < 3000; ++i) {
    stable.push_back(RandomBytes(rng, 32));
    batch.push_back(Pdq(stable.back()));
  }
  const auto stable_ids = f.Add(batch);
  auto matcher = f.OpenMatcher(/*merge=*/true);
  std::atomic<bool> done{false};
  std::atomic<int> lookups{0}, failures{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 local(100 + r);
      while (!done) {
        const std::size_t k = local() % stable.size();
        const auto matches = matcher->MatchPdq(AsPdq(Flipped(local, stable[k], 10)));
        bool found = false;
        for (const Match& m : *matches) found |= m.id == stable_ids[k] && m.distance == 10;
        if (!found) ++failures;
        ++lookups;
      }
    });
  }
  // The writer: batches of new descriptors, half of them retracted later, merges in between.
  std::vector<DescriptorId> churn;
  for (int round = 0; round < 30; ++round) {
    std::vector<NewDescriptor> more;
    for (int i = 0; i < 700; ++i) more.push_back(Pdq(RandomBytes(rng, 32)));
    const auto ids = f.Add(more);
    churn.insert(churn.end(), ids.begin(), ids.end());
    for (int i = 0; i < 50; ++i) {
      REQUIRE(f.store->SetStatus(churn[rng() % churn.size()], S::kRetracted, "p", "").ok());
    }
    REQUIRE(matcher->CatchUp().ok());
    if (round % 10 == 9) matcher->WaitForMerges();
  }
  done = true;
  for (std::thread& t : readers) t.join();
  CHECK(lookups > 0);
  CHECK(failures == 0);
  CHECK(matcher->Stats().entries[0] == 3000 + 30 * 700);
}

}  // namespace
}  // namespace hashmatch::index

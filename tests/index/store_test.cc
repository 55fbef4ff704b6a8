// The SQLite store against a real file: batches, idempotency, review rules, change log, schema.
#include "index/store.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

#include "engine/sqlite/sqlite.h"
#include "index/internal/store_schema.h"
#include "tests/index/index_test_util.h"
#include "tests/testing/temp_dir.h"

namespace hashmatch::index {
namespace {

using testing::Pdq;
using testing::Police;
using testing::RandomBytes;
using Outcome = AddResult::Outcome;

std::unique_ptr<Store> Open(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(path);
  REQUIRE(store.ok());
  return *std::move(store);
}

std::int64_t Total(Store& store) {
  const absl::StatusOr<std::vector<Store::Count>> counts = store.Counts();
  REQUIRE(counts.ok());
  std::int64_t total = 0;
  for (const auto& c : *counts) total += c.count;
  return total;
}

TEST_CASE("a batch is added once and the same values again add provenance only", "[index][store]") {
  hashmatch::testing::TempDir dir;
  auto store = Open(dir.File("store.db"));
  std::mt19937_64 rng(1);
  const std::vector<NewDescriptor> batch = {
      Pdq(RandomBytes(rng, 32)),
      Pdq(RandomBytes(rng, 32)),
      {Signal::kMd5, RandomBytes(rng, 16), -1, "B", DescriptorStatus::kCandidate}};
  const absl::StatusOr<AddResult> first = store->Add(Police(), batch);
  REQUIRE(first.ok());
  CHECK(first->outcomes == std::vector<Outcome>(3, Outcome::kAdded));
  CHECK(first->commit_seq == 3);

  // Same contribution again (a re-push): nothing new at all.
  const absl::StatusOr<AddResult> again = store->Add(Police(), batch);
  REQUIRE(again.ok());
  CHECK(again->ids == first->ids);
  CHECK(again->outcomes == std::vector<Outcome>(3, Outcome::kMerged));
  CHECK(again->commit_seq == 3);
  CHECK(store->Get(first->ids[0])->provenance.size() == 1);

  // Another agency sends one of them: same descriptor, second provenance.
  const absl::StatusOr<AddResult> other =
      store->Add({"ict", "", "key-ict", "bundle-9"}, std::vector<NewDescriptor>{batch[0]});
  REQUIRE(other.ok());
  CHECK(other->ids[0] == first->ids[0]);
  const Descriptor d = *store->Get(first->ids[0]);
  REQUIRE(d.provenance.size() == 2);
  CHECK(d.provenance[0].contribution.agency == "police");
  CHECK(d.provenance[0].contribution.case_ref == "case-1");
  CHECK(d.provenance[1].contribution.bundle_id == "bundle-9");
  CHECK(d.value == batch[0].value);
  CHECK(d.quality == 100);
  CHECK(d.category == "A1");
  CHECK(Total(*store) == 3);
}

TEST_CASE("a batch with one bad item adds nothing and names the item", "[index][store]") {
  hashmatch::testing::TempDir dir;
  auto store = Open(dir.File("store.db"));
  std::mt19937_64 rng(2);
  REQUIRE(store->Add(Police(), std::vector<NewDescriptor>{Pdq(RandomBytes(rng, 32))}).ok());
  struct Case {
    NewDescriptor bad;
    const char* message;
  };
  const std::vector<Case> cases = {
      {Pdq(RandomBytes(rng, 31)), "item 2: PDQ value is 31 bytes, expected 32"},
      {{Signal::kSha1, RandomBytes(rng, 32), -1, "A", DescriptorStatus::kVerified},
       "SHA1 value is 32 bytes, expected 20"},
      {Pdq(RandomBytes(rng, 32), DescriptorStatus::kVerified, 101), "quality 101"},
      {Pdq(RandomBytes(rng, 32), DescriptorStatus::kRetracted), "status RETRACTED cannot be added"},
      {Pdq(RandomBytes(rng, 32), DescriptorStatus::kVerified, -1), "needs its quality"},
      {{static_cast<Signal>(99), RandomBytes(rng, 32), -1, "A", DescriptorStatus::kVerified},
       "signal 99 is unknown"},
      {{Signal::kPdq, RandomBytes(rng, 32), 90, std::string(2000, 'x'),
        DescriptorStatus::kVerified},
       "category is 2000 bytes"},
  };
  for (const Case& c : cases) {
    INFO(c.message);
    const std::vector<NewDescriptor> batch = {Pdq(RandomBytes(rng, 32)), Pdq(RandomBytes(rng, 32)),
                                              c.bad};
    const absl::StatusOr<AddResult> result = store->Add(Police(), batch);
    REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(result.status().message()), Catch::Contains(c.message));
    CHECK(Total(*store) == 1);
    CHECK(*store->LastSeq() == 1);
  }
  CHECK(store->Add(Police(), {}).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a batch over the limit is refused whole", "[index][store]") {
  hashmatch::testing::TempDir dir;
  StoreLimits limits;
  limits.max_batch = 5;
  auto store = *OpenSqliteStore(dir.File("store.db"), limits);
  std::mt19937_64 rng(3);
  std::vector<NewDescriptor> batch;
  for (int i = 0; i < 6; ++i) batch.push_back(Pdq(RandomBytes(rng, 32)));
  const absl::Status status = store->Add(Police(), batch).status();
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Catch::Contains("batch has 6 items; the limit is 5"));
  CHECK(Total(*store) == 0);
}

TEST_CASE("review: candidates are verified or rejected, verified ones retracted",
          "[index][store]") {
  hashmatch::testing::TempDir dir;
  auto store = Open(dir.File("store.db"));
  std::mt19937_64 rng(4);
  const auto added = *store->Add(
      Police(),
      std::vector<NewDescriptor>{Pdq(RandomBytes(rng, 32), DescriptorStatus::kCandidate),
                                 Pdq(RandomBytes(rng, 32), DescriptorStatus::kCandidate)});
  const DescriptorId a = added.ids[0], b = added.ids[1];
  using S = DescriptorStatus;
  REQUIRE(store->SetStatus(a, S::kVerified, "key-police", "looked at it").ok());
  CHECK(store->Get(a)->status == S::kVerified);
  CHECK(store->Get(a)->status_changed_by == "key-police");
  CHECK(store->SetStatus(a, S::kVerified, "key-police", "").ok());  // no-op
  REQUIRE(store->SetStatus(b, S::kRejected, "key-police", "not material").ok());
  CHECK(store->SetStatus(b, S::kVerified, "p", "").status().code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(store->SetStatus(a, S::kRetracted, "key-police", "court order").ok());
  const absl::Status again = store->SetStatus(a, S::kVerified, "p", "").status();
  CHECK(again.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(again.message()),
             Catch::Contains("is RETRACTED; it cannot become VERIFIED"));
  CHECK(store->SetStatus(999, S::kVerified, "p", "").status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(store->Get(a)->status_reason == "court order");

  // The log: two adds, then verify, reject, retract; each with the value an index needs.
  const std::vector<Change> log = *store->ChangesAfter(0, 100);
  REQUIRE(log.size() == 5);
  CHECK(log[0].kind == Change::Kind::kAdded);
  CHECK(log[2].kind == Change::Kind::kStatusChanged);
  CHECK(log[2].status == S::kVerified);
  CHECK(log[3].status == S::kRejected);
  CHECK(log[4].status == S::kRetracted);
  CHECK(log[4].value == store->Get(a)->value);
  CHECK(store->ChangesAfter(3, 100)->size() == 2);
  CHECK(store->ChangesAfter(3, 1)->size() == 1);
}

TEST_CASE("List pages through one status and category in id order", "[index][store]") {
  hashmatch::testing::TempDir dir;
  auto store = Open(dir.File("store.db"));
  std::mt19937_64 rng(8);
  std::vector<NewDescriptor> items;
  for (int i = 0; i < 7; ++i) {
    items.push_back(Pdq(RandomBytes(rng, 32),
                        i % 2 == 0 ? DescriptorStatus::kCandidate : DescriptorStatus::kVerified));
    items.back().category = i < 4 ? "A1" : "B";
  }
  const AddResult added = *store->Add(Police(), items);
  using S = DescriptorStatus;
  const std::vector<Descriptor> first = *store->List(S::kCandidate, "", 0, 3);
  REQUIRE(first.size() == 3);
  CHECK(first[0].id == added.ids[0]);
  CHECK(first[1].id == added.ids[2]);
  CHECK(first[2].id == added.ids[4]);
  CHECK(first[0].provenance.size() == 1);
  const std::vector<Descriptor> rest = *store->List(S::kCandidate, "", first.back().id, 3);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].id == added.ids[6]);
  CHECK(store->List(S::kCandidate, "B", 0, 10)->size() == 2);
  CHECK(store->List(S::kVerified, "A1", 0, 10)->size() == 2);
  CHECK(store->List(S::kRejected, "", 0, 10)->empty());
  REQUIRE(store->SetStatus(added.ids[0], S::kRejected, "key-police", "no").ok());
  CHECK(store->List(S::kRejected, "", 0, 10)->at(0).id == added.ids[0]);
  CHECK(store->List(S::kCandidate, "", 0, 10)->size() == 3);
}

TEST_CASE("a candidate sent again as verified becomes verified", "[index][store]") {
  hashmatch::testing::TempDir dir;
  auto store = Open(dir.File("store.db"));
  std::mt19937_64 rng(5);
  const std::string value = RandomBytes(rng, 32);
  const auto ict =
      *store->Add({"ict", "", "key-ict", ""},
                  std::vector<NewDescriptor>{Pdq(value, DescriptorStatus::kCandidate)});
  const auto police = *store->Add(Police(), std::vector<NewDescriptor>{Pdq(value)});
  CHECK(police.ids == ict.ids);
  CHECK(store->Get(ict.ids[0])->status == DescriptorStatus::kVerified);
  CHECK(store->ChangesAfter(ict.commit_seq, 10)->at(0).kind == Change::Kind::kStatusChanged);
  // ...but a verified one sent again as a candidate stays verified.
  REQUIRE(store
              ->Add({"ict", "", "key-ict", ""},
                    std::vector<NewDescriptor>{Pdq(value, DescriptorStatus::kCandidate)})
              .ok());
  CHECK(store->Get(ict.ids[0])->status == DescriptorStatus::kVerified);
}

TEST_CASE("the store survives reopening and Find and ScanAll see everything", "[index][store]") {
  hashmatch::testing::TempDir dir;
  std::mt19937_64 rng(6);
  std::vector<NewDescriptor> batch;
  for (int i = 0; i < 100; ++i) batch.push_back(Pdq(RandomBytes(rng, 32)));
  std::string store_id;
  {
    auto store = Open(dir.File("store.db"));
    REQUIRE(store->Add(Police(), batch).ok());
    store_id = store->store_id();
    CHECK(store_id.size() == 32);
  }
  auto store = Open(dir.File("store.db"));
  CHECK(store->store_id() == store_id);
  CHECK(*store->LastSeq() == 100);
  const auto found = *store->Find(Signal::kPdq, batch[42].value);
  REQUIRE(found.has_value());
  CHECK(found->id == 43);
  CHECK_FALSE(store->Find(Signal::kMd5, batch[42].value.substr(0, 16))->has_value());
  std::size_t seen = 0;
  CHECK(*store->ScanAll([&](const Change& c) { CHECK(c.value == batch[seen++].value); }) == 100);
  CHECK(seen == 100);

  // The duplicate check after a restart comes from the rows on disk.
  const absl::StatusOr<AddResult> again = store->Add(Police(), batch);
  REQUIRE(again.ok());
  CHECK(again->outcomes == std::vector<Outcome>(100, Outcome::kMerged));
  CHECK(again->ids[42] == 43);
  CHECK(*store->LastSeq() == 100);
}

TEST_CASE("a store open in one process cannot be opened for writing again", "[index][store]") {
  hashmatch::testing::TempDir dir;
  {
    auto first = Open(dir.File("store.db"));
    const absl::Status second = OpenSqliteStore(dir.File("store.db")).status();
    CHECK(second.code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(second.message()), Catch::Contains("already open in another process"));
  }
  CHECK(OpenSqliteStore(dir.File("store.db")).ok());  // released on close
}

TEST_CASE("an older schema is migrated and a newer or foreign file is refused", "[index][store]") {
  hashmatch::testing::TempDir dir;
  {
    auto db = *sqlite::OpenSqlite(dir.File("v1.db"));
    REQUIRE(internal::MigrateStore(db.get(), 1).ok());
  }
  {
    auto store = Open(dir.File("v1.db"));
    REQUIRE(store->Add(Police(), std::vector<NewDescriptor>{Pdq(std::string(32, 'a'))}).ok());
  }
  {
    auto db = *sqlite::OpenSqlite(dir.File("v1.db"));
    auto version = *sqlite::Statement::Prepare(db.get(), "PRAGMA user_version");
    REQUIRE(*version.Step());
    CHECK(version.Int(0) == internal::kStoreSchemaVersion);
    auto index = *sqlite::Statement::Prepare(
        db.get(),
        "SELECT group_concat(name) FROM sqlite_schema WHERE type = 'index' AND name NOT "
        "LIKE 'sqlite_autoindex%'");
    REQUIRE(*index.Step());
    CHECK(index.Text(0) == "candidates");  // v2 added it, v3 dropped descriptors_by_value
    REQUIRE(sqlite::Exec(db.get(), "PRAGMA user_version = 99").ok());
  }
  const absl::Status newer = OpenSqliteStore(dir.File("v1.db")).status();
  CHECK(newer.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(newer.message()), Catch::Contains("version 99 is newer"));

  {
    auto db = *sqlite::OpenSqlite(dir.File("other.db"));
    REQUIRE(sqlite::Exec(db.get(), "CREATE TABLE t(x)").ok());
  }
  const absl::Status foreign = OpenSqliteStore(dir.File("other.db")).status();
  CHECK_THAT(std::string(foreign.message()), Catch::Contains("not a hashmatch store"));

  dir.Write("garbage.db", std::string(8192, 'x'));
  CHECK_FALSE(OpenSqliteStore(dir.File("garbage.db")).ok());
}

TEST_CASE("a truncated store file is an error, not an empty or shorter store", "[index][store]") {
  hashmatch::testing::TempDir dir;
  std::mt19937_64 rng(7);
  {
    auto store = Open(dir.File("store.db"));
    for (int b = 0; b < 20; ++b) {
      std::vector<NewDescriptor> batch;
      for (int i = 0; i < 500; ++i) batch.push_back(Pdq(RandomBytes(rng, 32)));
      REQUIRE(store->Add(Police(), batch).ok());
    }
  }
  const auto size = std::filesystem::file_size(dir.File("store.db"));
  std::filesystem::resize_file(dir.File("store.db"), size / 2);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenSqliteStore(dir.File("store.db"));
  if (store.ok()) {
    const absl::StatusOr<std::int64_t> scanned = (*store)->ScanAll([](const Change&) {});
    CHECK_FALSE(scanned.ok());
    CHECK(scanned.status().code() == absl::StatusCode::kDataLoss);
  }
}

}  // namespace
}  // namespace hashmatch::index

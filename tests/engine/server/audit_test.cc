// The audit chain against a real SQLite file: intact after restarts, and every edit, deletion or
// insertion found with the record number.
#include "engine/server/audit.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/sqlite/sqlite.h"
#include "tests/testing/temp_dir.h"

namespace hashmatch::server {
namespace {

AuditRecord Record(int i) {
  return {1'700'000'000'000 + i,
          "k_ab",
          "platform",
          "/hashmatch.v1.MatchService/MatchHashes",
          "OK",
          i,
          {i % 3 == 0 ? std::vector<std::int64_t>{i, i + 1} : std::vector<std::int64_t>{}}};
}

void Tamper(const std::string& path, const char* sql) {
  auto db = *sqlite::OpenSqlite(path);
  REQUIRE(sqlite::Exec(db.get(), sql).ok());
}

TEST_CASE("the audit chain verifies across restarts and names the first tampered record",
          "[server][audit]") {
  hashmatch::testing::TempDir dir;
  const std::string path = dir.File("audit.db");
  {
    auto log = *OpenAuditLog(path);
    for (int i = 1; i <= 50; ++i) REQUIRE(log->Append(Record(i)).ok());
  }
  std::string head;
  {
    auto log = *OpenAuditLog(path);  // continues the chain after a restart
    for (int i = 51; i <= 60; ++i) REQUIRE(log->Append(Record(i)).ok());
    const AuditVerification v = *log->Verify();
    CHECK(v.intact);
    CHECK(v.records == 60);
    CHECK(v.head_hash.size() == 64);
    head = v.head_hash;
  }

  SECTION("an edited field") {
    Tamper(path, "UPDATE audit SET record = replace(record, 'platform', 'police') WHERE seq = 17");
    const AuditVerification v = *(*OpenAuditLog(path))->Verify();
    CHECK_FALSE(v.intact);
    CHECK(v.problem ==
          "record 17: its hash does not match its text and the previous record "
          "(edited)");
  }
  SECTION("a deleted record") {
    Tamper(path, "DELETE FROM audit WHERE seq = 30");
    const AuditVerification v = *(*OpenAuditLog(path))->Verify();
    CHECK_FALSE(v.intact);
    CHECK(v.problem == "record 30: sequence number is 31 (a record is missing)");
  }
  SECTION("a record rewritten with a fresh hash of its own") {
    // Recomputing one record's hash is not enough: the next record chains the old one.
    Tamper(path, "DELETE FROM audit WHERE seq = 60");
    Tamper(path, "UPDATE audit SET hash = '00' || substr(hash, 3) WHERE seq = 59");
    const AuditVerification v = *(*OpenAuditLog(path))->Verify();
    CHECK_FALSE(v.intact);
    CHECK(v.problem.rfind("record 59:", 0) == 0);
  }
  SECTION("a cut of the newest records changes the head hash") {
    Tamper(path, "DELETE FROM audit WHERE seq > 55");
    const AuditVerification v = *(*OpenAuditLog(path))->Verify();
    CHECK(v.intact);  // a chain alone cannot see a cut: the head hash kept elsewhere does
    CHECK(v.records == 55);
    CHECK(v.head_hash != head);
  }
}

}  // namespace
}  // namespace hashmatch::server

namespace hashmatch::server {
namespace {

TEST_CASE("concurrent and queued appends all land in one intact chain, in queue order",
          "[server][audit]") {
  hashmatch::testing::TempDir dir;
  const std::string path = dir.File("audit.db");
  constexpr int kThreads = 8, kEach = 300, kAsync = 500;
  std::atomic<int> acknowledged{0};
  {
    auto log = *OpenAuditLog(path);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kEach; ++i) {
          if (log->Append(Record(t * kEach + i)).ok()) ++acknowledged;
        }
      });
    }
    for (std::thread& t : threads) t.join();
    // Queued without waiting: the log commits them before it is destroyed, in queue order.
    for (int i = 0; i < kAsync; ++i) {
      log->AppendAsync(Record(i), [&](const absl::Status& s) { acknowledged += s.ok() ? 1 : 0; });
    }
  }
  CHECK(acknowledged == kThreads * kEach + kAsync);
  auto log = *OpenAuditLog(path);
  const AuditVerification v = *log->Verify();
  CHECK(v.intact);
  CHECK(v.records == kThreads * kEach + kAsync);
  // Queue order is chain order: the newest record is the last one queued (items = kAsync - 1).
  auto db = *sqlite::OpenSqlite(path);
  auto last =
      *sqlite::Statement::Prepare(db.get(), "SELECT record FROM audit ORDER BY seq DESC LIMIT 1");
  REQUIRE(*last.Step());
  CHECK(last.Text(0).find(absl::StrCat("\t", kAsync - 1, "\t")) != std::string::npos);
}

}  // namespace
}  // namespace hashmatch::server

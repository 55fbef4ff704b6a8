// The audit chain against a real SQLite file: intact after restarts, and every edit, deletion or
// insertion found with the record number.
#include "engine/server/internal/audit.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
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

namespace hashmatch::server {
namespace {

std::int64_t CommittedRecords(const std::string& path) {
  auto db = *sqlite::OpenSqlite(path);
  auto count = *sqlite::Statement::Prepare(db.get(), "SELECT count(*) FROM audit");
  REQUIRE(*count.Step());
  return count.Int(0);
}

// Whether `done()` turns true within 2 s, polled every 5 ms (the flush is due after
// AuditLog::kUnacknowledgedFlushMs).
template <typename Done>
bool Eventually(Done done) {
  for (int i = 0; i < 400; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

bool EventuallyCommitted(const std::string& path, std::int64_t records) {
  return Eventually([&] { return CommittedRecords(path) == records; });
}

// A log holding one committed record, and a second connection to its file through which a test
// makes the disk misbehave.
struct LogAndConnection {
  LogAndConnection()
      : path(dir.File("audit.db")),
        log(*OpenAuditLog(path)),
        appended(log->Append(Record(1)).ok()),
        db(*sqlite::OpenSqlite(path)) {
    REQUIRE(appended);
  }
  hashmatch::testing::TempDir dir;
  const std::string path;
  std::unique_ptr<AuditLog> log;
  const bool appended;
  sqlite::SqliteHandle db;
};

TEST_CASE("unacknowledged records are committed within the flush time, in queue order",
          "[server][audit]") {
  hashmatch::testing::TempDir dir;
  const std::string path = dir.File("audit.db");
  {
    auto log = *OpenAuditLog(path);
    REQUIRE(log->Append(Record(1)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the writer is idle now
    for (int i = 2; i <= 10; ++i) REQUIRE(log->AppendUnacknowledged(Record(i)).ok());
    CHECK(EventuallyCommitted(path, 10));
    // An acknowledged record queued behind unacknowledged ones commits them with it, at once.
    for (int i = 11; i <= 20; ++i) REQUIRE(log->AppendUnacknowledged(Record(i)).ok());
    REQUIRE(log->Append(Record(21)).ok());
    CHECK(CommittedRecords(path) == 21);
    for (int i = 22; i <= 30; ++i) REQUIRE(log->AppendUnacknowledged(Record(i)).ok());
  }  // destruction commits what is queued
  const AuditVerification v = *(*OpenAuditLog(path))->Verify();
  CHECK(v.intact);
  CHECK(v.records == 30);
  auto db = *sqlite::OpenSqlite(path);
  auto items = *sqlite::Statement::Prepare(db.get(), "SELECT record FROM audit ORDER BY seq");
  for (int i = 1; i <= 30; ++i) {
    REQUIRE(*items.Step());
    CHECK(items.Text(0).rfind(absl::StrCat(i, "\t", 1'700'000'000'000 + i, "\t"), 0) == 0);
  }
}

TEST_CASE("a failed commit of unacknowledged records fails the next calls until one succeeds",
          "[server][audit]") {
  LogAndConnection t;
  AuditLog* log = t.log.get();
  // A trigger stands in for a full or failing disk: every insert is refused.
  REQUIRE(sqlite::Exec(t.db.get(),
                       "CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT "
                       "RAISE(ABORT, 'disk trouble'); END")
              .ok());
  REQUIRE(log->AppendUnacknowledged(Record(2)).ok());  // nothing has failed yet
  absl::Status next;
  Eventually([&] { return !(next = log->AppendUnacknowledged(Record(3))).ok(); });
  INFO(next.message());
  CHECK(next.code() != absl::StatusCode::kOk);
  CHECK(std::string(next.message()).find("answered lookups unrecorded") != std::string::npos);
  CHECK(std::string(next.message()).find("disk trouble") != std::string::npos);
  const absl::Status acknowledged = log->Append(Record(4));
  INFO(acknowledged.message());
  CHECK_FALSE(acknowledged.ok());  // acknowledged records get the error themselves

  REQUIRE(sqlite::Exec(t.db.get(), "DROP TRIGGER refuse").ok());
  REQUIRE(log->Append(Record(5)).ok());
  CHECK(Eventually([&] { return log->AppendUnacknowledged(Record(6)).ok(); }));
  const AuditVerification v = *log->Verify();
  CHECK(v.intact);
}

TEST_CASE("unacknowledged records beyond the queue bound are refused while the disk is behind",
          "[server][audit]") {
  LogAndConnection t;
  AuditLog* log = t.log.get();
  // Another connection holds the write lock: the writer waits (busy timeout), the queue grows.
  REQUIRE(sqlite::Exec(t.db.get(), "BEGIN IMMEDIATE").ok());
  constexpr int kCalls = static_cast<int>(AuditLog::kMaxQueued) + 5'000;
  int refused = 0;
  std::string message;
  for (int i = 0; i < kCalls; ++i) {
    const absl::Status s = log->AppendUnacknowledged(Record(2 + i));
    if (!s.ok()) {
      ++refused;
      CHECK(s.code() == absl::StatusCode::kUnavailable);
      message = std::string(s.message());
    }
  }
  REQUIRE(sqlite::Exec(t.db.get(), "COMMIT").ok());
  CHECK(refused > 0);
  CHECK(refused <= 5'000);
  CHECK(message.find("records behind the calls; retry later") != std::string::npos);
  // Every record that was taken is committed once the lock is gone, and the chain holds.
  CHECK(EventuallyCommitted(t.path, 1 + kCalls - refused));
  REQUIRE(log->AppendUnacknowledged(Record(0)).ok());
  CHECK(log->Verify()->intact);
}

}  // namespace
}  // namespace hashmatch::server

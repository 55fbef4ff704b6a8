// The audit chain against a real SQLite file: intact after restarts, and every edit, deletion or
// insertion found with the record number.
#include "engine/server/audit.h"

#include <catch2/catch.hpp>

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

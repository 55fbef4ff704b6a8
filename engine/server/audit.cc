#include "engine/server/audit.h"

#include <openssl/sha.h>

#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/core.h"
#include "engine/sqlite/sqlite.h"

namespace hashmatch::server {
namespace {

using sqlite::Exec;
using sqlite::Statement;

// The chained text of a record: tab-separated, fields in a fixed order. Key ids, roles, method
// names and status names never contain tabs or newlines (they come from the server, not users).
std::string RecordText(std::int64_t seq, const AuditRecord& r) {
  return absl::StrCat(seq, "\t", r.time_ms, "\t", r.key_id, "\t", r.role, "\t", r.method, "\t",
                      r.status, "\t", r.items, "\t", absl::StrJoin(r.descriptor_ids, ","));
}

std::string ChainHash(const std::string& previous_hex, const std::string& text) {
  const std::string input = previous_hex + "\n" + text;
  Sha256 digest;
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest.bytes.data());
  return digest.ToHex();
}

const std::string kGenesis(64, '0');

class SqliteAuditLog final : public AuditLog {
 public:
  explicit SqliteAuditLog(sqlite::SqliteHandle db) : db_(std::move(db)) {}

  absl::Status LoadHead() {
    HM_ASSIGN_OR_RETURN(
        Statement s,
        Statement::Prepare(db_.get(), "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1"));
    HM_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (row) {
      last_seq_ = s.Int(0);
      head_ = s.Text(1);
    }
    return absl::OkStatus();
  }

  absl::Status Append(const AuditRecord& record) override {
    std::lock_guard lock(mu_);
    const std::int64_t seq = last_seq_ + 1;
    const std::string text = RecordText(seq, record);
    const std::string hash = ChainHash(head_, text);
    HM_ASSIGN_OR_RETURN(
        Statement insert,
        Statement::Prepare(db_.get(), "INSERT INTO audit(seq, record, hash) VALUES(?,?,?)"));
    insert.Bind(1, seq).BindText(2, text).BindText(3, hash);
    HM_RETURN_IF_ERROR(insert.Run());
    last_seq_ = seq;
    head_ = hash;
    return absl::OkStatus();
  }

  absl::StatusOr<AuditVerification> Verify() override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db_.get(),
                                                        "SELECT seq, record, hash FROM audit "
                                                        "ORDER BY seq"));
    AuditVerification v;
    std::string previous = kGenesis;
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (!row) break;
      const std::int64_t expected_seq = v.records + 1;
      const std::string text = s.Text(1);
      std::string problem;
      if (s.Int(0) != expected_seq) {
        problem = absl::StrCat("sequence number is ", s.Int(0), " (a record is missing)");
      } else if (text.rfind(absl::StrCat(expected_seq, "\t"), 0) != 0) {
        problem = "its text does not carry its sequence number";
      } else if (ChainHash(previous, text) != s.Text(2)) {
        problem = "its hash does not match its text and the previous record (edited)";
      }
      if (!problem.empty()) {
        v.intact = false;
        v.problem = absl::StrCat("record ", expected_seq, ": ", problem);
        return v;
      }
      previous = s.Text(2);
      v.records = expected_seq;
    }
    v.head_hash = previous;
    return v;
  }

 private:
  std::mutex mu_;
  sqlite::SqliteHandle db_;
  std::int64_t last_seq_ = 0;
  std::string head_ = kGenesis;
};

}  // namespace

absl::StatusOr<std::unique_ptr<AuditLog>> OpenAuditLog(const std::string& path) {
  HM_ASSIGN_OR_RETURN(sqlite::SqliteHandle db, sqlite::OpenSqlite(path));
  // synchronous=NORMAL: a commit is in the WAL before Append returns, so it survives the process
  // being killed; a power cut may lose the newest records (never corrupt or reorder the chain).
  HM_RETURN_IF_ERROR(Exec(db.get(),
                          "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA "
                          "busy_timeout = 10000; CREATE TABLE IF NOT EXISTS audit(seq INTEGER "
                          "PRIMARY KEY, record TEXT NOT NULL, hash TEXT NOT NULL)"));
  auto log = std::make_unique<SqliteAuditLog>(std::move(db));
  absl::Status loaded = log->LoadHead();
  if (!loaded.ok()) {
    return absl::Status(loaded.code(), "audit log " + path + ": " + std::string(loaded.message()));
  }
  return log;
}

}  // namespace hashmatch::server

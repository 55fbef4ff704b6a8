#include "engine/server/internal/audit.h"

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

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

  // Group commit on one writer thread: every record queued while a commit runs goes into the
  // next transaction, so concurrent RPCs share a commit (one WAL append) and no RPC thread
  // blocks on the disk.
  void AppendAsync(AuditRecord record, std::function<void(const absl::Status&)> done) override {
    {
      std::lock_guard lock(queue_mu_);
      queue_.push_back({std::move(record), std::move(done)});
      ++acknowledged_queued_;
    }
    queued_.notify_one();
  }

  absl::Status AppendUnacknowledged(AuditRecord record) override {
    absl::Status failing;
    bool wake = false;
    {
      std::lock_guard lock(queue_mu_);
      if (queue_.size() >= kMaxQueued) {
        return absl::UnavailableError(absl::StrCat("the audit log is ", queue_.size(),
                                                   " records behind the calls; retry later"));
      }
      queue_.push_back({std::move(record), nullptr});
      failing = unacknowledged_failure_;
      // An idle writer is woken by the first record, then gathers until an acknowledged record,
      // a full group or the flush time: one wake-up per group, not per record.
      wake = queue_.size() == 1 || queue_.size() >= kMaxGroup;
    }
    if (wake) queued_.notify_one();
    return failing;
  }

  ~SqliteAuditLog() override {
    {
      std::lock_guard lock(queue_mu_);
      stopping_ = true;
    }
    queued_.notify_one();
    if (writer_.joinable()) writer_.join();  // commits what is queued first
  }

  void Start() {
    writer_ = std::thread([this] { WriteLoop(); });
  }

  absl::StatusOr<AuditVerification> Verify() override {
    std::lock_guard lock(db_mu_);
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
  static constexpr std::size_t kMaxGroup = 1024;

  struct Pending {
    AuditRecord record;
    std::function<void(const absl::Status&)> done;  // empty: AppendUnacknowledged
  };

  void WriteLoop() {
    const auto commit_now = [&] {
      return stopping_ || acknowledged_queued_ > 0 || queue_.size() >= kMaxGroup;
    };
    std::vector<Pending> group;
    while (true) {
      {
        std::unique_lock lock(queue_mu_);
        queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything is written
        // Only unacknowledged records: let more gather, up to the flush time.
        queued_.wait_for(lock, std::chrono::milliseconds(kUnacknowledgedFlushMs), commit_now);
        const std::size_t take = std::min(queue_.size(), kMaxGroup);
        group.assign(std::make_move_iterator(queue_.begin()),
                     std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(take)));
        queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
        acknowledged_queued_ -= std::count_if(group.begin(), group.end(),
                                              [](const Pending& p) { return p.done != nullptr; });
      }
      const absl::Status status = WriteGroup(group);
      std::int64_t unacknowledged = 0;
      for (Pending& p : group) {
        if (p.done) {
          p.done(status);
        } else {
          ++unacknowledged;
        }
      }
      if (unacknowledged > 0) {
        std::lock_guard lock(queue_mu_);
        unacknowledged_failure_ =
            status.ok()
                ? absl::OkStatus()
                : absl::Status(status.code(),
                               absl::StrCat("the audit log could not be written (", unacknowledged,
                                            " answered lookups unrecorded): ",
                                            std::string(status.message())));
      }
      group.clear();
    }
  }

  // Chains and commits `group` after the head; on failure nothing is written and the head stays.
  absl::Status WriteGroup(const std::vector<Pending>& group) {
    std::lock_guard lock(db_mu_);
    if (!insert_) {
      HM_ASSIGN_OR_RETURN(
          insert_,
          Statement::Prepare(db_.get(), "INSERT INTO audit(seq, record, hash) VALUES(?,?,?)"));
    }
    HM_RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE"));
    std::int64_t seq = last_seq_;
    std::string head = head_;
    absl::Status status;
    for (const Pending& p : group) {
      const std::string text = RecordText(++seq, p.record);
      head = ChainHash(head, text);
      insert_->Bind(1, seq).BindText(2, text).BindText(3, head);
      status = insert_->Run();
      if (!status.ok()) break;
    }
    if (status.ok()) status = Exec(db_.get(), "COMMIT");
    if (!status.ok()) {
      Exec(db_.get(), "ROLLBACK").IgnoreError();
      return status;
    }
    last_seq_ = seq;
    head_ = std::move(head);
    return absl::OkStatus();
  }

  std::mutex queue_mu_;
  std::condition_variable queued_;
  std::deque<Pending> queue_;
  std::int64_t acknowledged_queued_ = 0;  // queued records with a `done`
  absl::Status unacknowledged_failure_;   // of the newest commit holding unacknowledged records
  bool stopping_ = false;
  std::thread writer_;

  std::mutex db_mu_;  // the connection, the statement and the head
  sqlite::SqliteHandle db_;
  std::optional<Statement> insert_;
  std::int64_t last_seq_ = 0;
  std::string head_ = kGenesis;
};

}  // namespace

absl::Status AuditLog::Append(AuditRecord record) {
  std::promise<absl::Status> committed;
  AppendAsync(std::move(record), [&](const absl::Status& status) { committed.set_value(status); });
  return committed.get_future().get();
}

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
  log->Start();
  return log;
}

}  // namespace hashmatch::server

// The embedded Store: one SQLite connection in WAL mode with synchronous=FULL, guarded by a mutex
// (SQLite serialises writers anyway; readers are short), and an in-memory value index for
// duplicate detection (internal/value_index.h). The value index is only right while this process
// is the store's only writer, so opening takes an exclusive lock on `<path>.lock`.
// See store.h for the contract.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/sqlite/sqlite.h"
#include "index/internal/store_schema.h"
#include "index/internal/value_index.h"
#include "index/store.h"

namespace hashmatch::index {
namespace {

using sqlite::Exec;
using sqlite::Statement;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status CheckText(std::string_view text, std::size_t limit, const std::string& field) {
  if (text.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", text.size(), " bytes; the limit is ", limit));
  }
  return absl::OkStatus();
}

absl::Status CheckItem(const NewDescriptor& item, std::size_t index, const StoreLimits& limits) {
  const std::string where = absl::StrCat("item ", index, ": ");
  const std::size_t want = SignalValueBytes(item.signal);
  if (!ParseSignal(SignalName(item.signal))) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "signal ", static_cast<int>(item.signal), " is unknown"));
  }
  if (want != 0 && item.value.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(where, SignalName(item.signal), " value is ",
                                                   item.value.size(), " bytes, expected ", want));
  }
  if (item.value.empty() || item.value.size() > limits.max_value_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(where, "value is ", item.value.size(),
                                                   " bytes; allowed 1..", limits.max_value_bytes));
  }
  if (item.signal == Signal::kVpdq) {
    // The matcher indexes every frame: a value it cannot read must never be committed.
    if (absl::StatusOr<std::vector<VpdqFeature>> frames = DecodeVpdq(item.value); !frames.ok()) {
      return absl::InvalidArgumentError(where + std::string(frames.status().message()));
    }
  }
  if (item.quality < -1 || item.quality > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "quality ", item.quality, " is outside 0..100 (or -1 for none)"));
  }
  if (item.signal == Signal::kPdq && item.quality < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, "a PDQ descriptor needs its quality"));
  }
  if (item.status != DescriptorStatus::kCandidate && item.status != DescriptorStatus::kVerified) {
    return absl::InvalidArgumentError(absl::StrCat(where, "status ", StatusName(item.status),
                                                   " cannot be added; only CANDIDATE or VERIFIED"));
  }
  return CheckText(item.category, limits.max_text_bytes, where + "category");
}

// Which review transitions the store allows.
absl::Status CheckTransition(DescriptorId id, DescriptorStatus from, DescriptorStatus to) {
  using S = DescriptorStatus;
  const bool allowed = (from == S::kCandidate && to != S::kCandidate) ||
                       (from == S::kVerified && to == S::kRetracted);
  if (allowed) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("descriptor ", id, " is ", StatusName(from),
                                                    "; it cannot become ", StatusName(to)));
}

// An exclusive flock(2), released when the descriptor closes, also when the process dies.
class WriterLock {
 public:
  static absl::StatusOr<WriterLock> Acquire(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot open lock file ", path, ": ", std::strerror(errno)));
    }
    WriterLock lock(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("the store is already open in another process (", path, " is locked)"));
    }
    return lock;
  }
  WriterLock(WriterLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  WriterLock& operator=(WriterLock&&) = delete;
  ~WriterLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(WriterLock lock, sqlite::SqliteHandle db, StoreLimits limits, std::string store_id)
      : lock_(std::move(lock)),
        db_(std::move(db)),
        limits_(limits),
        store_id_(std::move(store_id)) {}

  absl::Status Prepare() {
    sqlite3* db = db_.get();
    HM_ASSIGN_OR_RETURN(insert_descriptor_,
                        Statement::Prepare(db,
                                           "INSERT INTO descriptors(signal, value, quality, "
                                           "category, status, contribution_id, created_ms) "
                                           "VALUES(?,?,?,?,?,?,?)"));
    HM_ASSIGN_OR_RETURN(row_by_id_,
                        Statement::Prepare(db,
                                           "SELECT signal, value, status, contribution_id FROM "
                                           "descriptors WHERE id = ?"));
    HM_ASSIGN_OR_RETURN(insert_change_,
                        Statement::Prepare(db,
                                           "INSERT INTO changes(descriptor_id, kind, status, "
                                           "time_ms) VALUES(?,?,?,?)"));
    HM_ASSIGN_OR_RETURN(insert_provenance_,
                        Statement::Prepare(db,
                                           "INSERT OR IGNORE INTO provenance(descriptor_id, "
                                           "contribution_id, added_ms) VALUES(?,?,?)"));
    HM_ASSIGN_OR_RETURN(update_status_,
                        Statement::Prepare(db,
                                           "UPDATE descriptors SET status = ?, status_changed_ms "
                                           "= ?, status_changed_by = ?, status_reason = ? WHERE "
                                           "id = ?"));
    HM_ASSIGN_OR_RETURN(last_seq_,
                        Statement::Prepare(db, "SELECT coalesce(max(seq), 0) FROM changes"));
    return absl::OkStatus();
  }

  absl::StatusOr<AddResult> Add(const Contribution& contribution,
                                std::span<const NewDescriptor> items) override {
    if (items.empty()) return absl::InvalidArgumentError("batch is empty");
    if (items.size() > limits_.max_batch) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch has ", items.size(), " items; the limit is ", limits_.max_batch));
    }
    HM_RETURN_IF_ERROR(CheckText(contribution.agency, limits_.max_text_bytes, "agency"));
    HM_RETURN_IF_ERROR(CheckText(contribution.case_ref, limits_.max_text_bytes, "case reference"));
    HM_RETURN_IF_ERROR(CheckText(contribution.contributor, limits_.max_text_bytes, "contributor"));
    HM_RETURN_IF_ERROR(CheckText(contribution.bundle_id, limits_.max_text_bytes, "bundle id"));
    for (std::size_t i = 0; i < items.size(); ++i)
      HM_RETURN_IF_ERROR(CheckItem(items[i], i, limits_));

    std::lock_guard lock(mu_);
    HM_RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE"));
    absl::StatusOr<AddResult> result = AddLocked(contribution, items);
    // COMMIT returns after the WAL is synced (synchronous=FULL): only now is the batch ours.
    const absl::Status committed = result.ok() ? Exec(db_.get(), "COMMIT") : result.status();
    if (!committed.ok()) {
      Exec(db_.get(), "ROLLBACK").IgnoreError();
      // The value index already holds this batch's rows; rebuild it from what is on disk.
      values_.Clear();
      values_loaded_ = false;
      return committed;
    }
    return result;
  }

  absl::StatusOr<std::int64_t> SetStatus(DescriptorId id, DescriptorStatus status,
                                         std::string_view actor, std::string_view reason) override {
    HM_RETURN_IF_ERROR(CheckText(actor, limits_.max_text_bytes, "actor"));
    HM_RETURN_IF_ERROR(CheckText(reason, limits_.max_text_bytes, "reason"));
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(
        Statement current,
        Statement::Prepare(db_.get(), "SELECT status FROM descriptors WHERE id = ?"));
    current.Bind(1, id);
    HM_ASSIGN_OR_RETURN(const bool found, current.Step());
    if (!found) return absl::NotFoundError(absl::StrCat("no descriptor with id ", id));
    const auto from = static_cast<DescriptorStatus>(current.Int(0));
    if (from == status) return LastSeqLocked();
    HM_RETURN_IF_ERROR(CheckTransition(id, from, status));
    HM_RETURN_IF_ERROR(Exec(db_.get(), "BEGIN IMMEDIATE"));
    absl::Status written = WriteStatus(id, status, actor, reason);
    if (!written.ok()) {
      Exec(db_.get(), "ROLLBACK").IgnoreError();
      return written;
    }
    HM_RETURN_IF_ERROR(Exec(db_.get(), "COMMIT"));
    return LastSeqLocked();
  }

  absl::StatusOr<Descriptor> Get(DescriptorId id) override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(std::optional<Descriptor> d,
                        Load("id = ?", [&](Statement& s) { s.Bind(1, id); }));
    if (!d) return absl::NotFoundError(absl::StrCat("no descriptor with id ", id));
    return *std::move(d);
  }

  absl::StatusOr<std::optional<Descriptor>> Find(Signal signal, std::string_view value) override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(const std::optional<Existing> existing, FindExisting(signal, value));
    if (!existing) return std::optional<Descriptor>();
    return Load("id = ?", [&](Statement& s) { s.Bind(1, existing->id); });
  }

  absl::StatusOr<std::vector<Descriptor>> List(DescriptorStatus status, std::string_view category,
                                               DescriptorId after_id, std::size_t limit) override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db_.get(),
                                           "SELECT id FROM descriptors WHERE status = ?1 AND (?2 "
                                           "= '' OR category = ?2) AND id > ?3 ORDER BY id LIMIT "
                                           "?4"));
    s.Bind(1, static_cast<std::int64_t>(status))
        .BindText(2, category)
        .Bind(3, after_id)
        .Bind(4, static_cast<std::int64_t>(limit));
    std::vector<DescriptorId> ids;
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (!row) break;
      ids.push_back(s.Int(0));
    }
    std::vector<Descriptor> out;
    out.reserve(ids.size());
    for (const DescriptorId id : ids) {
      HM_ASSIGN_OR_RETURN(std::optional<Descriptor> d,
                          Load("id = ?", [&](Statement& l) { l.Bind(1, id); }));
      if (d) out.push_back(*std::move(d));
    }
    return out;
  }

  absl::StatusOr<std::vector<Change>> ChangesAfter(std::int64_t after_seq,
                                                   std::size_t limit) override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(
        Statement s,
        Statement::Prepare(db_.get(),
                           "SELECT c.seq, c.kind, c.descriptor_id, d.signal, d.value, d.quality, "
                           "c.status FROM changes c JOIN descriptors d ON d.id = c.descriptor_id "
                           "WHERE c.seq > ? ORDER BY c.seq LIMIT ?"));
    s.Bind(1, after_seq).Bind(2, static_cast<std::int64_t>(limit));
    std::vector<Change> changes;
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (!row) break;
      Change& c = changes.emplace_back();
      c.seq = s.Int(0);
      c.kind = static_cast<Change::Kind>(s.Int(1));
      c.id = s.Int(2);
      c.signal = static_cast<Signal>(s.Int(3));
      c.value = s.Blob(4);
      c.quality = static_cast<int>(s.Int(5));
      c.status = static_cast<DescriptorStatus>(s.Int(6));
    }
    return changes;
  }

  absl::StatusOr<std::int64_t> ScanAll(const std::function<void(const Change&)>& visit) override {
    std::lock_guard lock(mu_);
    HM_RETURN_IF_ERROR(Exec(db_.get(), "BEGIN"));  // one snapshot for the rows and the seq
    absl::StatusOr<std::int64_t> seq = ScanLocked(visit);
    Exec(db_.get(), "COMMIT").IgnoreError();
    return seq;
  }

  absl::StatusOr<std::int64_t> LastSeq() override {
    std::lock_guard lock(mu_);
    return LastSeqLocked();
  }

  absl::StatusOr<std::vector<Count>> Counts() override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db_.get(),
                                                        "SELECT signal, status, category, count(*) "
                                                        "FROM descriptors GROUP BY signal, status, "
                                                        "category"));
    std::vector<Count> counts;
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (!row) break;
      counts.push_back({static_cast<Signal>(s.Int(0)), static_cast<DescriptorStatus>(s.Int(1)),
                        s.Text(2), s.Int(3)});
    }
    return counts;
  }

  const std::string& store_id() const override { return store_id_; }

 private:
  absl::StatusOr<AddResult> AddLocked(const Contribution& contribution,
                                      std::span<const NewDescriptor> items) {
    const std::int64_t now = NowMs();
    HM_ASSIGN_OR_RETURN(const std::int64_t contribution_id, ContributionId(contribution));
    AddResult result;
    result.ids.reserve(items.size());
    result.outcomes.reserve(items.size());
    for (const NewDescriptor& item : items) {
      // Rows added earlier in this batch are visible here (same transaction), so duplicates
      // inside one batch merge too.
      const std::uint64_t hash = internal::ValueIndex::Hash(item.signal, item.value);
      HM_ASSIGN_OR_RETURN(const std::optional<Existing> existing,
                          FindExisting(item.signal, item.value, hash));
      DescriptorId id = 0;
      if (!existing) {
        insert_descriptor_->Bind(1, static_cast<int>(item.signal))
            .BindBlob(2, item.value)
            .Bind(3, item.quality)
            .BindText(4, item.category)
            .Bind(5, static_cast<int>(item.status))
            .Bind(6, contribution_id)
            .Bind(7, now);
        HM_RETURN_IF_ERROR(insert_descriptor_->Run());
        id = sqlite3_last_insert_rowid(db_.get());
        values_.Insert(hash, id);
        HM_RETURN_IF_ERROR(AppendChange(id, Change::Kind::kAdded, item.status, now));
        result.outcomes.push_back(AddResult::Outcome::kAdded);
      } else {
        id = existing->id;
        const DescriptorStatus status = existing->status;
        const std::int64_t first_contribution = existing->first_contribution;
        if (status == DescriptorStatus::kCandidate && item.status == DescriptorStatus::kVerified) {
          HM_RETURN_IF_ERROR(WriteStatus(id, item.status, contribution.contributor,
                                         "verified by a new contribution"));
        }
        result.outcomes.push_back(AddResult::Outcome::kMerged);
        // The first contribution lives in the descriptor row; later ones here (once each).
        if (first_contribution != contribution_id) {
          insert_provenance_->Bind(1, id).Bind(2, contribution_id).Bind(3, now);
          HM_RETURN_IF_ERROR(insert_provenance_->Run());
        }
      }
      result.ids.push_back(id);
    }
    HM_ASSIGN_OR_RETURN(result.commit_seq, LastSeqLocked());
    return result;
  }

  struct Existing {
    DescriptorId id;
    DescriptorStatus status;
    std::int64_t first_contribution;
  };

  absl::StatusOr<std::optional<Existing>> FindExisting(Signal signal, std::string_view value) {
    return FindExisting(signal, value, internal::ValueIndex::Hash(signal, value));
  }

  // The value index proposes ids; the row decides (a 64-bit hash collision costs one read).
  absl::StatusOr<std::optional<Existing>> FindExisting(Signal signal, std::string_view value,
                                                       std::uint64_t hash) {
    HM_RETURN_IF_ERROR(LoadValueIndex());
    std::optional<Existing> found;
    absl::Status status;
    values_.FindIf(hash, [&](std::int64_t id) {
      row_by_id_->Bind(1, id);
      const absl::StatusOr<bool> row = row_by_id_->Step();
      if (!row.ok() || !*row) {
        status =
            row.ok()
                ? absl::DataLossError(absl::StrCat("descriptor ", id, " is indexed but has no row"))
                : row.status();
      } else if (row_by_id_->Int(0) == static_cast<int>(signal) &&
                 row_by_id_->BlobView(1) == value) {
        found = Existing{id, static_cast<DescriptorStatus>(row_by_id_->Int(2)), row_by_id_->Int(3)};
      }
      row_by_id_->Reset();
      return found.has_value() || !status.ok();
    });
    HM_RETURN_IF_ERROR(status);
    return found;
  }

  // Built on first use rather than at open, so that opening the store for matching alone (the
  // matcher reads the change log) does not pay a scan of every row.
  absl::Status LoadValueIndex() {
    if (values_loaded_) return absl::OkStatus();
    internal::ValueIndex values;
    {
      // Ids are dense rowids, so the largest is the row count: size the table once.
      HM_ASSIGN_OR_RETURN(Statement max_id, Statement::Prepare(db_.get(),
                                                               "SELECT coalesce(max(id), 0) "
                                                               "FROM descriptors"));
      HM_ASSIGN_OR_RETURN(const bool row, max_id.Step());
      if (row) values.Reserve(static_cast<std::size_t>(max_id.Int(0)));
    }
    HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db_.get(),
                                                        "SELECT id, signal, value FROM "
                                                        "descriptors"));
    std::vector<internal::ValueIndex::Entry> chunk;
    chunk.reserve(4096);
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (row) {
        chunk.push_back(
            {internal::ValueIndex::Hash(static_cast<Signal>(s.Int(1)), s.BlobView(2)), s.Int(0)});
      }
      if (!row || chunk.size() == chunk.capacity()) {
        values.InsertMany(chunk);
        chunk.clear();
      }
      if (!row) break;
    }
    values_ = std::move(values);
    values_loaded_ = true;
    return absl::OkStatus();
  }

  absl::StatusOr<std::int64_t> ContributionId(const Contribution& c) {
    HM_ASSIGN_OR_RETURN(
        Statement insert,
        Statement::Prepare(
            db_.get(),
            "INSERT INTO contributions(agency, case_ref, "
            "contributor, bundle_id) VALUES(?,?,?,?) ON "
            "CONFLICT(agency, case_ref, contributor, bundle_id) DO UPDATE SET agency = "
            "excluded.agency RETURNING id"));
    insert.BindText(1, c.agency)
        .BindText(2, c.case_ref)
        .BindText(3, c.contributor)
        .BindText(4, c.bundle_id);
    HM_ASSIGN_OR_RETURN(const bool row, insert.Step());
    if (!row) return absl::InternalError("contribution insert returned no id");
    return insert.Int(0);
  }

  absl::Status AppendChange(DescriptorId id, Change::Kind kind, DescriptorStatus status,
                            std::int64_t now) {
    insert_change_->Bind(1, id)
        .Bind(2, static_cast<int>(kind))
        .Bind(3, static_cast<int>(status))
        .Bind(4, now);
    return insert_change_->Run();
  }

  absl::Status WriteStatus(DescriptorId id, DescriptorStatus status, std::string_view actor,
                           std::string_view reason) {
    const std::int64_t now = NowMs();
    update_status_->Bind(1, static_cast<int>(status))
        .Bind(2, now)
        .BindText(3, actor)
        .BindText(4, reason)
        .Bind(5, id);
    HM_RETURN_IF_ERROR(update_status_->Run());
    return AppendChange(id, Change::Kind::kStatusChanged, status, now);
  }

  absl::StatusOr<std::int64_t> LastSeqLocked() {
    HM_ASSIGN_OR_RETURN(const bool row, last_seq_->Step());
    const std::int64_t seq = row ? last_seq_->Int(0) : 0;
    last_seq_->Reset();
    return seq;
  }

  absl::StatusOr<std::int64_t> ScanLocked(const std::function<void(const Change&)>& visit) {
    HM_ASSIGN_OR_RETURN(const std::int64_t seq, LastSeqLocked());
    HM_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db_.get(),
                                           "SELECT id, signal, value, quality, status FROM "
                                           "descriptors ORDER BY id"));
    Change c;
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (!row) break;
      c.id = s.Int(0);
      c.signal = static_cast<Signal>(s.Int(1));
      c.value = s.Blob(2);
      c.quality = static_cast<int>(s.Int(3));
      c.status = static_cast<DescriptorStatus>(s.Int(4));
      visit(c);
    }
    return seq;
  }

  template <typename BindFn>
  absl::StatusOr<std::optional<Descriptor>> Load(const char* where, BindFn bind) {
    const std::string sql = absl::StrCat(
        "SELECT id, signal, value, quality, category, status, created_ms, status_changed_ms, "
        "status_changed_by, status_reason FROM descriptors WHERE ",
        where);
    HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db_.get(), sql.c_str()));
    bind(s);
    HM_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) return std::optional<Descriptor>();
    Descriptor d;
    d.id = s.Int(0);
    d.signal = static_cast<Signal>(s.Int(1));
    d.value = s.Blob(2);
    d.quality = static_cast<int>(s.Int(3));
    d.category = s.Text(4);
    d.status = static_cast<DescriptorStatus>(s.Int(5));
    d.created_ms = s.Int(6);
    d.status_changed_ms = s.Int(7);
    d.status_changed_by = s.Text(8);
    d.status_reason = s.Text(9);
    HM_ASSIGN_OR_RETURN(Statement p,
                        Statement::Prepare(db_.get(),
                                           "SELECT c.agency, c.case_ref, c.contributor, "
                                           "c.bundle_id, p.added_ms FROM (SELECT "
                                           "contribution_id, created_ms AS added_ms, 0 AS k FROM "
                                           "descriptors WHERE id = ?1 UNION ALL SELECT "
                                           "contribution_id, added_ms, 1 FROM provenance WHERE "
                                           "descriptor_id = ?1) p JOIN contributions c ON c.id = "
                                           "p.contribution_id ORDER BY p.k, p.added_ms, c.id"));
    p.Bind(1, d.id);
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool more, p.Step());
      if (!more) break;
      d.provenance.push_back({{p.Text(0), p.Text(1), p.Text(2), p.Text(3)}, p.Int(4)});
    }
    return d;
  }

  const WriterLock lock_;
  std::mutex mu_;  // guards everything below (SQLite serialises writers anyway)
  sqlite::SqliteHandle db_;
  internal::ValueIndex values_;
  bool values_loaded_ = false;
  const StoreLimits limits_;
  const std::string store_id_;
  std::optional<Statement> insert_descriptor_;
  std::optional<Statement> row_by_id_;
  std::optional<Statement> insert_change_;
  std::optional<Statement> insert_provenance_;
  std::optional<Statement> update_status_;
  std::optional<Statement> last_seq_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreLimits& limits) {
  absl::StatusOr<WriterLock> lock = WriterLock::Acquire(path + ".lock");
  if (!lock.ok()) {
    return absl::Status(lock.status().code(),
                        "store " + path + ": " + std::string(lock.status().message()));
  }
  HM_ASSIGN_OR_RETURN(sqlite::SqliteHandle db, sqlite::OpenSqlite(path));
  // WAL + FULL: a commit returns after the log is on disk, so an acknowledged batch survives
  // kill -9 and power loss; readers do not block the writer.
  HM_RETURN_IF_ERROR(Exec(db.get(), "PRAGMA busy_timeout = 10000"));
  {
    HM_ASSIGN_OR_RETURN(Statement wal, Statement::Prepare(db.get(), "PRAGMA journal_mode = WAL"));
    HM_ASSIGN_OR_RETURN(const bool row, wal.Step());
    if (!row || wal.Text(0) != "wal") {
      return absl::FailedPreconditionError("store " + path + ": cannot switch to WAL mode");
    }
  }
  HM_RETURN_IF_ERROR(Exec(db.get(),
                          "PRAGMA synchronous = FULL; PRAGMA cache_size = -65536; PRAGMA "
                          "wal_autocheckpoint = 65536"));
  absl::Status migrated = internal::MigrateStore(db.get());
  if (!migrated.ok()) {
    return absl::Status(migrated.code(), "store " + path + ": " + std::string(migrated.message()));
  }
  HM_ASSIGN_OR_RETURN(
      Statement id_query,
      Statement::Prepare(db.get(), "SELECT value FROM meta WHERE key = 'store_id'"));
  HM_ASSIGN_OR_RETURN(const bool has_id, id_query.Step());
  if (!has_id) return absl::DataLossError("store " + path + ": its meta table has no store_id");
  auto store =
      std::make_unique<SqliteStore>(*std::move(lock), std::move(db), limits, id_query.Text(0));
  HM_RETURN_IF_ERROR(store->Prepare());
  return store;
}

}  // namespace hashmatch::index

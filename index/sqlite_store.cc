// The embedded Store (index/internal/sqlite_store.h): opening, checks and writes. Reads are in
// internal/sqlite_store_read.cc.
#include "index/internal/sqlite_store.h"

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
#include "engine/sys/sys.h"
#include "index/internal/store_schema.h"
#include "index/internal/value_index.h"
#include "index/store.h"

namespace hashmatch::index {
namespace {

using sqlite::Exec;
using sqlite::Statement;

absl::Status CheckText(std::string_view text, std::size_t limit, const std::string& field) {
  if (text.size() > limit) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", text.size(), " bytes; the limit is ", limit));
  }
  return absl::OkStatus();
}

absl::Status CheckItem(const NewDescriptor& item, std::size_t index, const StoreLimits& limits) {
  const std::string where = absl::StrCat("item ", index, ": ");
  HM_RETURN_IF_ERROR(CheckDescriptorValue(item.signal, item.value, item.quality,
                                          absl::StrCat("item ", index), limits.max_value_bytes));
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

}  // namespace

using internal::SqliteStore;

absl::Status SqliteStore::Prepare() {
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

absl::StatusOr<AddResult> SqliteStore::Add(const Contribution& contribution,
                                           std::span<const NewDescriptor> items) {
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

absl::StatusOr<std::int64_t> SqliteStore::SetStatus(DescriptorId id, DescriptorStatus status,
                                                    std::string_view actor,
                                                    std::string_view reason) {
  HM_RETURN_IF_ERROR(CheckText(actor, limits_.max_text_bytes, "actor"));
  HM_RETURN_IF_ERROR(CheckText(reason, limits_.max_text_bytes, "reason"));
  std::lock_guard lock(mu_);
  HM_ASSIGN_OR_RETURN(Statement current,
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

absl::StatusOr<AddResult> SqliteStore::AddLocked(const Contribution& contribution,
                                                 std::span<const NewDescriptor> items) {
  const std::int64_t now = sys::NowMs();
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

absl::StatusOr<std::optional<SqliteStore::Existing>> SqliteStore::FindExisting(
    Signal signal, std::string_view value) {
  return FindExisting(signal, value, internal::ValueIndex::Hash(signal, value));
}

absl::StatusOr<std::optional<SqliteStore::Existing>> SqliteStore::FindExisting(
    Signal signal, std::string_view value, std::uint64_t hash) {
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
    } else if (row_by_id_->Int(0) == static_cast<int>(signal) && row_by_id_->BlobView(1) == value) {
      found = Existing{id, static_cast<DescriptorStatus>(row_by_id_->Int(2)), row_by_id_->Int(3)};
    }
    row_by_id_->Reset();
    return found.has_value() || !status.ok();
  });
  HM_RETURN_IF_ERROR(status);
  return found;
}

absl::Status SqliteStore::LoadValueIndex() {
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

absl::StatusOr<std::int64_t> SqliteStore::ContributionId(const Contribution& c) {
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

absl::Status SqliteStore::AppendChange(DescriptorId id, Change::Kind kind, DescriptorStatus status,
                                       std::int64_t now) {
  insert_change_->Bind(1, id)
      .Bind(2, static_cast<int>(kind))
      .Bind(3, static_cast<int>(status))
      .Bind(4, now);
  return insert_change_->Run();
}

absl::Status SqliteStore::WriteStatus(DescriptorId id, DescriptorStatus status,
                                      std::string_view actor, std::string_view reason) {
  const std::int64_t now = sys::NowMs();
  update_status_->Bind(1, static_cast<int>(status))
      .Bind(2, now)
      .BindText(3, actor)
      .BindText(4, reason)
      .Bind(5, id);
  HM_RETURN_IF_ERROR(update_status_->Run());
  return AppendChange(id, Change::Kind::kStatusChanged, status, now);
}

absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path,
                                                       const StoreLimits& limits) {
  absl::StatusOr<sys::WriterLock> lock = sys::WriterLock::Acquire(path + ".lock");
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

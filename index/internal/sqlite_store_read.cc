// The embedded Store (index/internal/sqlite_store.h): reads of descriptors and the change log.
#include <mutex>

#include "absl/strings/str_cat.h"
#include "index/internal/sqlite_store.h"

namespace hashmatch::index::internal {

using sqlite::Exec;
using sqlite::Statement;

template <typename BindFn>
absl::StatusOr<std::optional<Descriptor>> SqliteStore::Load(const char* where, BindFn bind) {
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

absl::StatusOr<Descriptor> SqliteStore::Get(DescriptorId id) {
  std::lock_guard lock(mu_);
  HM_ASSIGN_OR_RETURN(std::optional<Descriptor> d,
                      Load("id = ?", [&](Statement& s) { s.Bind(1, id); }));
  if (!d) return absl::NotFoundError(absl::StrCat("no descriptor with id ", id));
  return *std::move(d);
}

absl::StatusOr<std::optional<Descriptor>> SqliteStore::Find(Signal signal, std::string_view value) {
  std::lock_guard lock(mu_);
  HM_ASSIGN_OR_RETURN(const std::optional<Existing> existing, FindExisting(signal, value));
  if (!existing) return std::optional<Descriptor>();
  return Load("id = ?", [&](Statement& s) { s.Bind(1, existing->id); });
}

absl::StatusOr<std::vector<Descriptor>> SqliteStore::List(DescriptorStatus status,
                                                          std::string_view category,
                                                          DescriptorId after_id,
                                                          std::size_t limit) {
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

absl::StatusOr<std::vector<Change>> SqliteStore::ChangesAfter(std::int64_t after_seq,
                                                              std::size_t limit) {
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

absl::StatusOr<std::int64_t> SqliteStore::ScanAll(const std::function<void(const Change&)>& visit) {
  std::lock_guard lock(mu_);
  HM_RETURN_IF_ERROR(Exec(db_.get(), "BEGIN"));  // one snapshot for the rows and the seq
  absl::StatusOr<std::int64_t> seq = ScanLocked(visit);
  Exec(db_.get(), "COMMIT").IgnoreError();
  return seq;
}

absl::StatusOr<std::int64_t> SqliteStore::LastSeq() {
  std::lock_guard lock(mu_);
  return LastSeqLocked();
}

absl::StatusOr<std::vector<SqliteStore::Count>> SqliteStore::Counts() {
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

absl::StatusOr<std::int64_t> SqliteStore::LastSeqLocked() {
  HM_ASSIGN_OR_RETURN(const bool row, last_seq_->Step());
  const std::int64_t seq = row ? last_seq_->Int(0) : 0;
  last_seq_->Reset();
  return seq;
}

absl::StatusOr<std::int64_t> SqliteStore::ScanLocked(
    const std::function<void(const Change&)>& visit) {
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

}  // namespace hashmatch::index::internal

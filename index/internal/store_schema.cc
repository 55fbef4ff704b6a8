#include "index/internal/store_schema.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "engine/sqlite/sqlite.h"

namespace hashmatch::index::internal {
namespace {

using sqlite::Exec;
using sqlite::Statement;

// Migration k brings a store from version k to k + 1. Append only: never edit a shipped step.
constexpr const char* kMigrations[] = {
    // 0 -> 1: descriptors, provenance, change log. Rows are never deleted, so INTEGER PRIMARY
    // KEY ids and sequence numbers only grow (AUTOINCREMENT would add a write per row).
    R"sql(
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    CREATE TABLE descriptors(
      id INTEGER PRIMARY KEY,
      signal INTEGER NOT NULL,
      value BLOB NOT NULL,
      quality INTEGER NOT NULL,
      category TEXT NOT NULL,
      status INTEGER NOT NULL,
      contribution_id INTEGER NOT NULL,  -- the first contribution; later ones: provenance
      created_ms INTEGER NOT NULL,
      status_changed_ms INTEGER NOT NULL DEFAULT 0,
      status_changed_by TEXT NOT NULL DEFAULT '',
      status_reason TEXT NOT NULL DEFAULT '');
    CREATE UNIQUE INDEX descriptors_by_value ON descriptors(signal, value);
    CREATE TABLE contributions(
      id INTEGER PRIMARY KEY,
      agency TEXT NOT NULL, case_ref TEXT NOT NULL, contributor TEXT NOT NULL,
      bundle_id TEXT NOT NULL,
      UNIQUE(agency, case_ref, contributor, bundle_id));
    CREATE TABLE provenance(
      descriptor_id INTEGER NOT NULL,
      contribution_id INTEGER NOT NULL,
      added_ms INTEGER NOT NULL,
      PRIMARY KEY(descriptor_id, contribution_id)) WITHOUT ROWID;
    CREATE TABLE changes(
      seq INTEGER PRIMARY KEY,
      descriptor_id INTEGER NOT NULL,
      kind INTEGER NOT NULL,
      status INTEGER NOT NULL,
      time_ms INTEGER NOT NULL);
    INSERT INTO meta(key, value) VALUES('store_id', lower(hex(randomblob(16))));
    )sql",
    // 1 -> 2: the review queue lists candidates (a partial index: bulk VERIFIED adds skip it).
    R"sql(
    CREATE INDEX candidates ON descriptors(id) WHERE status = 1;
    )sql",
    // 2 -> 3: duplicates are found by the store's in-memory value index (value_index.h): a B-tree
    // over random values cost a dirty page per inserted descriptor.
    R"sql(
    DROP INDEX descriptors_by_value;
    )sql",
};
static_assert(std::size(kMigrations) == kStoreSchemaVersion);

absl::StatusOr<std::int64_t> PragmaInt(sqlite3* db, const char* pragma) {
  HM_ASSIGN_OR_RETURN(Statement statement, Statement::Prepare(db, pragma));
  HM_ASSIGN_OR_RETURN(const bool row, statement.Step());
  return row ? statement.Int(0) : 0;
}

}  // namespace

absl::Status MigrateStore(sqlite3* db, int target) {
  HM_ASSIGN_OR_RETURN(const std::int64_t version, PragmaInt(db, "PRAGMA user_version"));
  HM_ASSIGN_OR_RETURN(const std::int64_t application, PragmaInt(db, "PRAGMA application_id"));
  HM_ASSIGN_OR_RETURN(const std::int64_t tables,
                      PragmaInt(db, "SELECT count(*) FROM sqlite_schema"));
  if (application != kStoreApplicationId && (tables > 0 || version > 0)) {
    return absl::FailedPreconditionError(
        "not a hashmatch store (SQLite file with other contents); refusing to touch it");
  }
  if (version > kStoreSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("store schema version ", version,
                                                      " is newer than this build supports (",
                                                      kStoreSchemaVersion, "): upgrade hashmatch"));
  }
  for (std::int64_t v = version; v < target; ++v) {
    HM_RETURN_IF_ERROR(Exec(db, "BEGIN IMMEDIATE"));
    absl::Status step = Exec(db, kMigrations[v]);
    if (step.ok()) {
      step = Exec(db, absl::StrCat("PRAGMA application_id = ", kStoreApplicationId,
                                   "; PRAGMA user_version = ", v + 1)
                          .c_str());
    }
    if (!step.ok()) {
      Exec(db, "ROLLBACK").IgnoreError();
      return absl::Status(step.code(), absl::StrCat("migrating store to version ", v + 1, ": ",
                                                    std::string(step.message())));
    }
    HM_RETURN_IF_ERROR(Exec(db, "COMMIT"));
  }
  return absl::OkStatus();
}

}  // namespace hashmatch::index::internal

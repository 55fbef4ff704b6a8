// engine/sqlite: a leaf adapter: thin RAII over the SQLite C API, shared by the descriptor store
// (index/) and the server's key table, agency keys and audit log: a connection and prepared
// statements whose errors come back as absl::Status carrying SQLite's own message. It knows no
// schema and no other module of ours.
// Thread-safety: a connection or statement belongs to one thread at a time (callers lock).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace hashmatch::sqlite {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using SqliteHandle = std::unique_ptr<sqlite3, SqliteCloser>;

// `what` + SQLite's message for `code` on `db`, as an Internal (or DataLoss for corruption) error.
[[nodiscard]] absl::Status SqliteError(sqlite3* db, int code, std::string_view what);

[[nodiscard]] absl::StatusOr<SqliteHandle> OpenSqlite(const std::string& path);
[[nodiscard]] absl::Status Exec(sqlite3* db, const char* sql);

class Statement {
 public:
  [[nodiscard]] static absl::StatusOr<Statement> Prepare(sqlite3* db, const char* sql);

  // Binds are 1-based, as in SQLite.
  Statement& Bind(int index, std::int64_t value);
  Statement& BindDouble(int index, double value);
  Statement& BindText(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  // true: a row is available; false: done. Errors carry the SQL's first words.
  [[nodiscard]] absl::StatusOr<bool> Step();
  // Steps a statement that returns no rows, then resets it.
  [[nodiscard]] absl::Status Run();
  void Reset();

  std::int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;
  // Valid until the next Step, Reset or column call on this statement.
  std::string_view BlobView(int column) const;

 private:
  Statement(sqlite3* db, sqlite3_stmt* statement) : db_(db), statement_(statement) {}
  std::string_view Bytes(const void* data, int column) const;
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, StatementFinalizer> statement_;
};

}  // namespace hashmatch::sqlite

#include "engine/sqlite/sqlite.h"

#include "absl/strings/str_cat.h"

namespace hashmatch::sqlite {

absl::Status SqliteError(sqlite3* db, int code, std::string_view what) {
  const std::string message =
      absl::StrCat(std::string(what), ": ", db ? sqlite3_errmsg(db) : sqlite3_errstr(code),
                   " (sqlite code ", code, ")");
  const int primary = code & 0xFF;
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return absl::DataLossError(message);
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

absl::StatusOr<SqliteHandle> OpenSqlite(const std::string& path) {
  sqlite3* raw = nullptr;
  const int code = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  SqliteHandle db(raw);
  if (code != SQLITE_OK) return SqliteError(raw, code, "opening " + path);
  return db;
}

absl::Status Exec(sqlite3* db, const char* sql) {
  char* error = nullptr;
  const int code = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  if (code == SQLITE_OK) return absl::OkStatus();
  std::string message = error ? error : sqlite3_errstr(code);
  sqlite3_free(error);
  return SqliteError(nullptr, code, std::string(sql).substr(0, 60) + " -> " + message);
}

absl::StatusOr<Statement> Statement::Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  const int code = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
  if (code != SQLITE_OK) {
    sqlite3_finalize(raw);
    return SqliteError(db, code, std::string("preparing ") + std::string(sql).substr(0, 60));
  }
  return Statement(db, raw);
}

Statement& Statement::Bind(int index, std::int64_t value) {
  sqlite3_bind_int64(statement_.get(), index, value);
  return *this;
}
Statement& Statement::BindDouble(int index, double value) {
  sqlite3_bind_double(statement_.get(), index, value);
  return *this;
}
Statement& Statement::BindText(int index, std::string_view text) {
  sqlite3_bind_text(statement_.get(), index, text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::BindBlob(int index, std::string_view bytes) {
  // An empty blob must still be a blob, not NULL: SQLite binds NULL for a null pointer.
  static const char kEmpty = 0;
  sqlite3_bind_blob(statement_.get(), index, bytes.empty() ? &kEmpty : bytes.data(),
                    static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  const int code = sqlite3_step(statement_.get());
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  const std::string sql = sqlite3_sql(statement_.get());
  return SqliteError(db_, code, sql.substr(0, 60));
}

absl::Status Statement::Run() {
  const absl::StatusOr<bool> row = Step();
  Reset();
  return row.status();
}

void Statement::Reset() {
  sqlite3_reset(statement_.get());
  sqlite3_clear_bindings(statement_.get());
}

std::int64_t Statement::Int(int column) const {
  return sqlite3_column_int64(statement_.get(), column);
}
double Statement::Double(int column) const {
  return sqlite3_column_double(statement_.get(), column);
}
std::string Statement::Text(int column) const {
  return std::string(Bytes(sqlite3_column_text(statement_.get(), column), column));
}
std::string Statement::Blob(int column) const { return std::string(BlobView(column)); }
std::string_view Statement::BlobView(int column) const {
  return Bytes(sqlite3_column_blob(statement_.get(), column), column);
}
std::string_view Statement::Bytes(const void* data, int column) const {
  // sqlite3_column_bytes must come after the text/blob call: it reports that conversion's size.
  if (data == nullptr) return std::string_view();
  return std::string_view(static_cast<const char*>(data),
                          static_cast<std::size_t>(sqlite3_column_bytes(statement_.get(), column)));
}

}  // namespace hashmatch::sqlite

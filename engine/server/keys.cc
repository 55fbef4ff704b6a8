#include "engine/server/internal/keys.h"

#include <openssl/rand.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "engine/sqlite/sqlite.h"
#include "engine/sys/sys.h"

namespace hashmatch::server {
namespace {

using sqlite::Exec;
using sqlite::Statement;

constexpr std::size_t kMaxLabelBytes = 256;

class SqliteKeyTable final : public KeyTable {
 public:
  explicit SqliteKeyTable(sqlite::SqliteHandle db) : db_(std::move(db)) {}

  absl::Status Load() {
    HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(db_.get(),
                                                        "SELECT key_id, role, label, created_ms, "
                                                        "revoked_ms, rate, digest FROM keys"));
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (!row) break;
      ApiKeyInfo info = FromRow(s);
      if (info.revoked_ms == 0) active_.emplace(s.Text(6), std::move(info));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<NewApiKey> Create(Role role, std::string_view label,
                                   double rate_per_second) override {
    if (!ParseRole(RoleName(role))) return absl::InvalidArgumentError("role is not set");
    if (label.size() > kMaxLabelBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("label is ", label.size(), " bytes; the limit is ", kMaxLabelBytes));
    }
    if (!(rate_per_second >= 0)) {
      return absl::InvalidArgumentError("rate_per_second must be 0 (default) or more");
    }
    NewApiKey key;
    HM_ASSIGN_OR_RETURN(key.secret, NewKeySecret());
    Md5 id;  // 16 random bytes, shown as hex: a public name, not a secret
    if (RAND_bytes(id.bytes.data(), static_cast<int>(id.bytes.size())) != 1) {
      return absl::InternalError("OpenSSL RAND_bytes failed");
    }
    key.info = {"k_" + id.ToHex(), role, std::string(label), sys::NowMs(), 0, rate_per_second};
    const std::string digest = KeyDigest(key.secret);
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(Statement insert,
                        Statement::Prepare(db_.get(),
                                           "INSERT INTO keys(key_id, role, label, created_ms, "
                                           "revoked_ms, rate, digest) VALUES(?,?,?,?,0,?,?)"));
    insert.BindText(1, key.info.key_id)
        .Bind(2, static_cast<int>(role))
        .BindText(3, label)
        .Bind(4, key.info.created_ms)
        .BindDouble(5, rate_per_second)
        .BindText(6, digest);
    HM_RETURN_IF_ERROR(insert.Run());
    active_.emplace(digest, key.info);
    return key;
  }

  absl::StatusOr<ApiKeyInfo> Authenticate(std::string_view secret) const override {
    const std::string digest = KeyDigest(secret);
    std::lock_guard lock(mu_);
    const auto it = active_.find(digest);
    if (it == active_.end()) return absl::UnauthenticatedError("unknown or revoked API key");
    return it->second;
  }

  absl::StatusOr<std::vector<ApiKeyInfo>> List() const override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(Statement s,
                        Statement::Prepare(db_.get(),
                                           "SELECT key_id, role, label, created_ms, revoked_ms, "
                                           "rate FROM keys ORDER BY created_ms, key_id"));
    std::vector<ApiKeyInfo> keys;
    while (true) {
      HM_ASSIGN_OR_RETURN(const bool row, s.Step());
      if (!row) break;
      keys.push_back(FromRow(s));
    }
    return keys;
  }

  absl::Status Revoke(std::string_view key_id) override {
    std::lock_guard lock(mu_);
    HM_ASSIGN_OR_RETURN(Statement update,
                        Statement::Prepare(db_.get(),
                                           "UPDATE keys SET revoked_ms = ? WHERE key_id = ? AND "
                                           "revoked_ms = 0 RETURNING digest"));
    update.Bind(1, sys::NowMs()).BindText(2, key_id);
    HM_ASSIGN_OR_RETURN(const bool revoked, update.Step());
    if (revoked) {
      active_.erase(update.Text(0));
      return absl::OkStatus();
    }
    HM_ASSIGN_OR_RETURN(Statement known,
                        Statement::Prepare(db_.get(), "SELECT 1 FROM keys WHERE key_id = ?"));
    known.BindText(1, key_id);
    HM_ASSIGN_OR_RETURN(const bool exists, known.Step());
    if (!exists) return absl::NotFoundError(absl::StrCat("no API key ", std::string(key_id)));
    return absl::OkStatus();
  }

 private:
  static ApiKeyInfo FromRow(const Statement& s) {
    return {s.Text(0), static_cast<Role>(s.Int(1)), s.Text(2), s.Int(3), s.Int(4), s.Double(5)};
  }

  mutable std::mutex mu_;
  sqlite::SqliteHandle db_;
  std::unordered_map<std::string, ApiKeyInfo> active_;  // by digest
};

}  // namespace

absl::StatusOr<std::unique_ptr<KeyTable>> OpenKeyTable(const std::string& path) {
  HM_ASSIGN_OR_RETURN(sqlite::SqliteHandle db, sqlite::OpenSqlite(path));
  HM_RETURN_IF_ERROR(Exec(db.get(),
                          "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA "
                          "busy_timeout = 10000; CREATE TABLE IF NOT EXISTS keys(key_id TEXT "
                          "PRIMARY KEY, role INTEGER NOT NULL, label TEXT NOT NULL, created_ms "
                          "INTEGER NOT NULL, revoked_ms INTEGER NOT NULL, rate REAL NOT NULL, "
                          "digest TEXT NOT NULL UNIQUE) WITHOUT ROWID"));
  auto table = std::make_unique<SqliteKeyTable>(std::move(db));
  absl::Status loaded = table->Load();
  if (!loaded.ok()) {
    return absl::Status(loaded.code(), "key table " + path + ": " + std::string(loaded.message()));
  }
  return table;
}

}  // namespace hashmatch::server

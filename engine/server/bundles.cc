#include "engine/server/internal/bundles.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"
#include "engine/sqlite/sqlite.h"
#include "engine/sys/sys.h"

namespace hashmatch::server {
namespace {

using sqlite::Statement;

constexpr std::size_t kMaxAgencyBytes = 256;
constexpr std::size_t kPublicKeyBytes = 32;

absl::Status CheckFileSha256(std::string_view id) {
  const bool hex = id.size() == 64 && id.find_first_not_of("0123456789abcdef") == id.npos;
  if (hex) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "file_sha256: must be the SHA-256 of the bundle file, 64 lower-case hex digits");
}

AgencyKey KeyFromRow(const Statement& s) {
  return {s.Text(0), s.Blob(1), s.Text(2), s.Int(3), s.Int(4)};
}

constexpr const char* kKeyColumns = "agency, public_key, fingerprint, created_ms, revoked_ms";

}  // namespace

struct BundleInbox::State {
  std::string uploads_dir;
  std::int64_t max_bundle_bytes = 0;
  mutable std::mutex mu;  // guards db and claimed
  sqlite::SqliteHandle db;
  std::set<std::string> claimed;

  std::string PathOf(std::string_view key_id, std::string_view file_sha256) const {
    return uploads_dir + "/" + std::string(key_id) + "." + std::string(file_sha256) + ".part";
  }
};

BundleInbox::BundleInbox(std::unique_ptr<State> state) : state_(std::move(state)) {}
BundleInbox::~BundleInbox() = default;

absl::StatusOr<std::unique_ptr<BundleInbox>> BundleInbox::Open(
    const std::string& data_dir, std::int64_t max_bundle_bytes,
    std::chrono::seconds abandoned_after) {
  auto state = std::make_unique<State>();
  state->uploads_dir = data_dir + "/uploads";
  state->max_bundle_bytes = max_bundle_bytes;
  std::error_code error;
  std::filesystem::create_directories(state->uploads_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", state->uploads_dir, ": ", error.message()));
  }
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& entry : std::filesystem::directory_iterator(state->uploads_dir, error)) {
    if (entry.path().extension() == ".part" &&
        now - entry.last_write_time(error) > abandoned_after) {
      std::filesystem::remove(entry.path(), error);
    }
  }
  HM_ASSIGN_OR_RETURN(state->db, sqlite::OpenSqlite(data_dir + "/bundles.db"));
  HM_RETURN_IF_ERROR(sqlite::Exec(state->db.get(), R"sql(
    PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000;
    CREATE TABLE IF NOT EXISTS agency_keys(
      public_key BLOB PRIMARY KEY, agency TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE,
      created_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS imports(
      file_sha256 TEXT NOT NULL, status INTEGER NOT NULL, key_id TEXT NOT NULL,
      bundle_id TEXT NOT NULL,
      records INTEGER NOT NULL, added INTEGER NOT NULL, merged INTEGER NOT NULL,
      agency TEXT NOT NULL, signer_fingerprint TEXT NOT NULL, commit_seq INTEGER NOT NULL,
      imported_ms INTEGER NOT NULL, PRIMARY KEY(file_sha256, status)) WITHOUT ROWID;
  )sql"));
  return std::unique_ptr<BundleInbox>(new BundleInbox(std::move(state)));
}

std::int64_t BundleInbox::max_bundle_bytes() const { return state_->max_bundle_bytes; }

absl::StatusOr<AgencyKey> BundleInbox::AddAgencyKey(std::string_view agency,
                                                    std::string_view public_key) {
  if (agency.empty() || agency.size() > kMaxAgencyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("agency: must be 1..", kMaxAgencyBytes, " bytes"));
  }
  for (const char c : agency) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("agency: control characters are not allowed");
    }
  }
  if (public_key.size() != kPublicKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("public_key: ", public_key.size(), " bytes; an Ed25519 key is 32"));
  }
  const AgencyKey key{std::string(agency), std::string(public_key),
                      bundle::KeyFingerprint(public_key), sys::NowMs(), 0};
  std::lock_guard lock(state_->mu);
  HM_ASSIGN_OR_RETURN(
      Statement existing,
      Statement::Prepare(state_->db.get(), "SELECT agency FROM agency_keys WHERE public_key = ?"));
  existing.BindBlob(1, public_key);
  HM_ASSIGN_OR_RETURN(const bool known, existing.Step());
  if (known) {
    return absl::AlreadyExistsError(absl::StrCat("public_key: key ", key.fingerprint,
                                                 " is already registered to agency \"",
                                                 existing.Text(0), "\""));
  }
  HM_ASSIGN_OR_RETURN(Statement insert, Statement::Prepare(state_->db.get(),
                                                           "INSERT INTO agency_keys(agency, "
                                                           "public_key, fingerprint, created_ms, "
                                                           "revoked_ms) VALUES(?,?,?,?,0)"));
  insert.BindText(1, key.agency).BindBlob(2, key.public_key).BindText(3, key.fingerprint);
  insert.Bind(4, key.created_ms);
  HM_RETURN_IF_ERROR(insert.Run());
  return key;
}

absl::StatusOr<std::vector<AgencyKey>> BundleInbox::ListAgencyKeys() const {
  std::lock_guard lock(state_->mu);
  const std::string sql =
      absl::StrCat("SELECT ", kKeyColumns, " FROM agency_keys ORDER BY created_ms, fingerprint");
  HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(state_->db.get(), sql.c_str()));
  std::vector<AgencyKey> keys;
  while (true) {
    HM_ASSIGN_OR_RETURN(const bool row, s.Step());
    if (!row) break;
    keys.push_back(KeyFromRow(s));
  }
  return keys;
}

absl::Status BundleInbox::RevokeAgencyKey(std::string_view fingerprint) {
  std::lock_guard lock(state_->mu);
  HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(state_->db.get(),
                                                      "UPDATE agency_keys SET revoked_ms = ? "
                                                      "WHERE fingerprint = ? AND revoked_ms = 0"));
  s.Bind(1, sys::NowMs()).BindText(2, fingerprint);
  HM_RETURN_IF_ERROR(s.Run());
  if (sqlite3_changes(state_->db.get()) > 0) return absl::OkStatus();
  HM_ASSIGN_OR_RETURN(
      Statement known,
      Statement::Prepare(state_->db.get(), "SELECT 1 FROM agency_keys WHERE fingerprint = ?"));
  known.BindText(1, fingerprint);
  HM_ASSIGN_OR_RETURN(const bool exists, known.Step());
  if (exists) return absl::OkStatus();
  return absl::NotFoundError("no agency key with fingerprint " + std::string(fingerprint));
}

absl::StatusOr<std::optional<AgencyKey>> BundleInbox::ActiveAgencyKey(
    std::string_view public_key) const {
  std::lock_guard lock(state_->mu);
  const std::string sql = absl::StrCat("SELECT ", kKeyColumns,
                                       " FROM agency_keys WHERE public_key = ? AND revoked_ms = 0");
  HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(state_->db.get(), sql.c_str()));
  s.BindBlob(1, public_key);
  HM_ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return std::optional<AgencyKey>();
  return KeyFromRow(s);
}

absl::StatusOr<std::int64_t> BundleInbox::StagedBytes(std::string_view key_id,
                                                      std::string_view file_sha256) const {
  HM_RETURN_IF_ERROR(CheckFileSha256(file_sha256));
  struct stat st;
  if (stat(state_->PathOf(key_id, file_sha256).c_str(), &st) != 0) return 0;
  return static_cast<std::int64_t>(st.st_size);
}

absl::StatusOr<std::unique_ptr<BundleInbox::Upload>> BundleInbox::Claim(
    std::string_view key_id, std::string_view file_sha256) {
  HM_ASSIGN_OR_RETURN(const std::int64_t size, StagedBytes(key_id, file_sha256));
  std::string claim = std::string(key_id) + "/" + std::string(file_sha256);
  std::lock_guard lock(state_->mu);
  if (!state_->claimed.insert(claim).second) {
    return absl::AbortedError(
        "another push of this bundle with this key is in progress; retry when it ends");
  }
  return std::unique_ptr<Upload>(
      new Upload(state_.get(), std::move(claim), state_->PathOf(key_id, file_sha256), size));
}

BundleInbox::Upload::~Upload() {
  std::lock_guard lock(state_->mu);
  state_->claimed.erase(key_);
}

absl::Status BundleInbox::Upload::Append(std::string_view bytes) {
  if (size_ + static_cast<std::int64_t>(bytes.size()) > state_->max_bundle_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the bundle is larger than the server's limit of ", state_->max_bundle_bytes,
                     " bytes (--max-bundle-bytes)"));
  }
  const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return absl::InternalError(absl::StrCat("staging the upload: ", std::strerror(errno)));
  const absl::Status written = sys::WriteAllAndSync(fd, bytes, "the staged upload");
  close(fd);
  if (!written.ok()) {
    // Leave the file at its acknowledged size so the next push resumes from a known offset.
    if (truncate(path_.c_str(), size_) != 0) Discard();
    return Prefixed(written, "staging the upload: ");
  }
  size_ += static_cast<std::int64_t>(bytes.size());
  return absl::OkStatus();
}

absl::StatusOr<std::string> BundleInbox::Upload::ReadAll() const {
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string();
  std::string bytes(static_cast<std::size_t>(size_), '\0');
  std::size_t read_bytes = 0;
  while (read_bytes < bytes.size()) {
    const ssize_t n = read(fd, bytes.data() + read_bytes, bytes.size() - read_bytes);
    if (n <= 0) break;
    read_bytes += static_cast<std::size_t>(n);
  }
  close(fd);
  if (read_bytes != bytes.size()) return absl::DataLossError("the staged upload is short");
  return bytes;
}

void BundleInbox::Upload::Discard() {
  std::remove(path_.c_str());
  size_ = 0;
}

absl::StatusOr<std::optional<BundleImport>> BundleInbox::FindImport(std::string_view file_sha256,
                                                                    DescriptorStatus status) const {
  std::lock_guard lock(state_->mu);
  HM_ASSIGN_OR_RETURN(Statement s, Statement::Prepare(state_->db.get(),
                                                      "SELECT bundle_id, records, added, merged, "
                                                      "agency, signer_fingerprint, commit_seq, "
                                                      "imported_ms FROM imports WHERE "
                                                      "file_sha256 = ? AND status = ?"));
  s.BindText(1, file_sha256).Bind(2, static_cast<std::int64_t>(status));
  HM_ASSIGN_OR_RETURN(const bool row, s.Step());
  if (!row) return std::optional<BundleImport>();
  return BundleImport{s.Text(0), s.Int(1),  s.Int(2), s.Int(3), status,
                      s.Text(4), s.Text(5), s.Int(6), s.Int(7)};
}

absl::Status BundleInbox::RecordImport(std::string_view file_sha256, std::string_view key_id,
                                       const BundleImport& import) {
  std::lock_guard lock(state_->mu);
  HM_ASSIGN_OR_RETURN(Statement s,
                      Statement::Prepare(state_->db.get(),
                                         "INSERT OR REPLACE INTO imports("
                                         "file_sha256, status, key_id, bundle_id, "
                                         "records, added, merged, agency, "
                                         "signer_fingerprint, commit_seq, "
                                         "imported_ms) VALUES(?,?,?,?,?,?,?,?,?,?,?)"));
  s.BindText(1, file_sha256).Bind(2, static_cast<std::int64_t>(import.status));
  s.BindText(3, key_id).BindText(4, import.bundle_id);
  s.Bind(5, import.records).Bind(6, import.added).Bind(7, import.merged);
  s.BindText(8, import.agency).BindText(9, import.signer_fingerprint);
  s.Bind(10, import.commit_seq).Bind(11, import.imported_ms);
  return s.Run();
}

}  // namespace hashmatch::server

// engine/server/internal/bundles: signed descriptor bundles arriving at hashmatchd.
//
// Owns the registered agency public keys and the record of imported bundles (DATA/bundles.db),
// and the uploads in progress (DATA/uploads/, one file per calling key and file SHA-256, fsynced
// per append so an acknowledged offset survives a crash). Checking a bundle and adding its records
// to the store is the ingest service's job; this module only keeps the bytes and the facts.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/core.h"

namespace hashmatch::server {

struct AgencyKey {
  std::string agency;
  std::string public_key;   // raw Ed25519, 32 bytes
  std::string fingerprint;  // first 16 hex digits of its SHA-256
  std::int64_t created_ms = 0;
  std::int64_t revoked_ms = 0;  // 0: active
};

// What importing one bundle did.
struct BundleImport {
  std::string bundle_id;  // header.bundle_id: the records' content id
  std::int64_t records = 0;
  std::int64_t added = 0;
  std::int64_t merged = 0;
  DescriptorStatus status = DescriptorStatus::kCandidate;
  std::string agency;
  std::string signer_fingerprint;
  std::int64_t commit_seq = 0;
  std::int64_t imported_ms = 0;
};

class BundleInbox {
 public:
  class Upload;

  // Opens (creating) DATA/bundles.db and DATA/uploads/. `max_bundle_bytes` bounds one upload.
  // Uploads untouched for `abandoned_after` are deleted here (a later push starts over).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<BundleInbox>> Open(
      const std::string& data_dir, std::int64_t max_bundle_bytes,
      std::chrono::seconds abandoned_after = std::chrono::hours(24 * 7));
  ~BundleInbox();

  // Agency names: 1..256 bytes, no control characters. AlreadyExists for a registered key.
  [[nodiscard]] absl::StatusOr<AgencyKey> AddAgencyKey(std::string_view agency,
                                                       std::string_view public_key);
  [[nodiscard]] absl::StatusOr<std::vector<AgencyKey>> ListAgencyKeys() const;
  // NotFound for an unknown fingerprint; revoking twice is a no-op.
  [[nodiscard]] absl::Status RevokeAgencyKey(std::string_view fingerprint);
  // The active (unrevoked) registration of `public_key`, if any.
  [[nodiscard]] absl::StatusOr<std::optional<AgencyKey>> ActiveAgencyKey(
      std::string_view public_key) const;

  // Uploads are named by the SHA-256 of the whole file (64 lower-case hex digits; InvalidArgument
  // otherwise). Bytes staged for (key_id, file_sha256); 0 when nothing is.
  [[nodiscard]] absl::StatusOr<std::int64_t> StagedBytes(std::string_view key_id,
                                                         std::string_view file_sha256) const;
  // Takes the upload for one call: Aborted while another call holds it.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<Upload>> Claim(std::string_view key_id,
                                                              std::string_view file_sha256);

  // The import of the file with `status`, if it happened.
  [[nodiscard]] absl::StatusOr<std::optional<BundleImport>> FindImport(
      std::string_view file_sha256, DescriptorStatus status) const;
  [[nodiscard]] absl::Status RecordImport(std::string_view file_sha256, std::string_view key_id,
                                          const BundleImport& import);

  std::int64_t max_bundle_bytes() const;

  struct State;

 private:
  explicit BundleInbox(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// One call's hold on a staged upload; released when destroyed.
class BundleInbox::Upload {
 public:
  ~Upload();
  std::int64_t size() const { return size_; }
  // Appends at the end and fsyncs. ResourceExhausted past max_bundle_bytes (nothing written).
  [[nodiscard]] absl::Status Append(std::string_view bytes);
  // The whole staged file.
  [[nodiscard]] absl::StatusOr<std::string> ReadAll() const;
  // Deletes the staged file (after an import, or when the bundle was refused).
  void Discard();

 private:
  friend class BundleInbox;
  Upload(BundleInbox::State* state, std::string key, std::string path, std::int64_t size)
      : state_(state), key_(std::move(key)), path_(std::move(path)), size_(size) {}
  BundleInbox::State* state_;
  std::string key_;  // key_id/file_sha256: the claim
  std::string path_;
  std::int64_t size_;
};

}  // namespace hashmatch::server

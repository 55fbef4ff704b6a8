// engine/bundle: the descriptor bundle file (layout in proto/hashmatch/v1/bundle.proto).
//
// Owns writing a bundle (atomically, engine/sys WriteFileAtomic), reading one back with every
// structural check (magic, lengths, count, content id, record fields, nothing after the
// signature), the length-delimited framing (protobuf's delimited-message utilities), and the
// agencies' Ed25519 key files and signatures (OpenSSL; details in internal/ed25519). A bundle that
// fails any check is refused whole, with the byte offset or record index of the first problem.
// Uses the generated bundle *message* only: no gRPC.
//
// Thread-safety: free functions on values; safe from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/core.h"
#include "hashmatch/v1/bundle.pb.h"

namespace hashmatch::bundle {

inline constexpr std::size_t kMaxCategoryBytes = 256;
// A VPDQ record's value: below the 1 MiB record limit with room for the rest of the record
// (28 229 frames: 7.8 hours at one frame per second).
inline constexpr std::size_t kMaxVpdqBytes = (1 << 20) - 4096;

struct BundleLimits {
  std::size_t max_bytes = std::size_t{4} << 30;  // the whole file
  std::int64_t max_records = 100'000'000;
  std::size_t max_message_bytes = 1 << 20;  // one header, record or signature
};

struct Bundle {
  hashmatch::v1::BundleHeader header;
  std::vector<hashmatch::v1::BundleRecord> records;
  std::optional<hashmatch::v1::BundleSignature> signature;
  Sha256 signed_digest;  // SHA-256 of the bytes before the signature: what a signature covers
};

// Parses and checks a whole bundle held in memory. DataLoss names the byte offset or record
// index of the first problem (truncation, bad length, wrong count or content id, bytes after the
// signature); InvalidArgument a record whose fields are wrong.
[[nodiscard]] absl::StatusOr<Bundle> ParseBundle(std::string_view bytes,
                                                 const BundleLimits& limits = {});
// ParseBundle without keeping the records: calls `visit` (when set) with each checked record in
// order, before the content id is checked, so a caller acts on the records only after the whole
// scan succeeded. A visitor error stops the scan and is returned. records stays empty.
using RecordVisitor =
    std::function<absl::Status(const hashmatch::v1::BundleRecord& record, std::int64_t index)>;
[[nodiscard]] absl::StatusOr<Bundle> ScanBundle(std::string_view bytes, const BundleLimits& limits,
                                                const RecordVisitor& visit);
// Reads `path` (refusing one over limits.max_bytes before reading) and parses it.
[[nodiscard]] absl::StatusOr<Bundle> ReadBundle(const std::string& path,
                                                const BundleLimits& limits = {});

// Writes an unsigned bundle of `records` under `header` (count, bundle_id, writer and, when 0,
// created_unix_ms are filled in). Replaces `path` atomically.
[[nodiscard]] absl::Status WriteBundle(const std::string& path, hashmatch::v1::BundleHeader header,
                                       const std::vector<hashmatch::v1::BundleRecord>& records);

// Signs the bundle at `path` in place with a PREFIX.key file (replacing an earlier signature).
// Returns the signer's raw public key.
[[nodiscard]] absl::StatusOr<std::string> SignBundleFile(const std::string& path,
                                                         const std::string& private_key_path);

// OK when the bundle is signed by `public_key` (raw 32 bytes); Unauthenticated otherwise, saying
// whether it is unsigned, signed by another key, or altered after signing.
[[nodiscard]] absl::Status VerifyBundle(const Bundle& bundle, std::string_view public_key);

// The framing bundles use (a varint byte count, then the message), for journals of records.
void AppendDelimited(const google::protobuf::MessageLite& message, std::string* out);
// The complete records at the start of a journal of delimited records; a torn tail (a crash
// mid-append) is ignored.
std::vector<hashmatch::v1::BundleRecord> ParseJournal(std::string_view bytes);

// ---- Agency keys (Ed25519) ----
// PREFIX.key (PKCS#8 PEM, mode 0600) and PREFIX.pub (SubjectPublicKeyInfo PEM). Keys are handled
// as raw 32-byte public keys everywhere else (bundles, the server's agency table).

// Writes a new key pair; refuses (AlreadyExists) to overwrite either file.
[[nodiscard]] absl::Status WriteKeyPair(const std::string& prefix);
// The raw 32-byte public key in a PREFIX.pub file.
[[nodiscard]] absl::StatusOr<std::string> ReadPublicKey(const std::string& path);
// Short printable id of a raw public key: the first 16 hex digits of its SHA-256.
std::string KeyFingerprint(std::string_view public_key);

// Checks one record's fields: a known signal with a raw value of its length (PDQ: quality
// 0..100 required), a category of 1..kMaxCategoryBytes bytes. `where` prefixes the message.
[[nodiscard]] absl::Status CheckRecord(const hashmatch::v1::BundleRecord& record,
                                       const std::string& where);

}  // namespace hashmatch::bundle

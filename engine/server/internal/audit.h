// engine/server/internal/audit: the append-only audit log (DIR/audit.db), hash-chained.
//
// Owns one record per RPC: time, key id, role, method, status, item count and the ids of the
// descriptors matched or changed. Never media, secrets, case references, or platforms' non-matching
// hashes: the caller passes only these fields. Record n stores SHA-256(hash of record n-1 || its
// text), so Verify detects any edited, inserted or deleted record except a cut of the newest ones
// (compare the head hash with one kept elsewhere for that: Verify returns it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hashmatch::server {

struct AuditRecord {
  std::int64_t time_ms = 0;
  std::string key_id;  // empty when the call was not authenticated
  std::string role;
  std::string method;  // full gRPC method name
  std::string status;  // gRPC status code name, e.g. "OK", "PERMISSION_DENIED"
  std::int64_t items = 0;
  std::vector<std::int64_t> descriptor_ids;  // matched (match calls) or changed (review)
};

struct AuditVerification {
  bool intact = true;
  std::int64_t records = 0;
  std::string problem;    // when not intact: "record N: what is wrong"
  std::string head_hash;  // hex SHA-256 of the newest record
};

class AuditLog {
 public:
  // Longest a record queued by AppendUnacknowledged waits for its commit.
  static constexpr int kUnacknowledgedFlushMs = 5;
  // Most records queued before AppendUnacknowledged refuses more (the disk is behind).
  static constexpr std::size_t kMaxQueued = 65'536;

  virtual ~AuditLog() = default;
  // Queues `record`; `done` runs on the log's writer thread once the commit holding it is in the
  // WAL (it survives the process being killed; see the .cc for power loss), or with the error
  // that kept it out. Records are chained in the order queued; records queued together share a
  // commit. Destruction commits what is queued.
  virtual void AppendAsync(AuditRecord record, std::function<void(const absl::Status&)> done) = 0;
  // AppendAsync, waiting for the commit.
  [[nodiscard]] absl::Status Append(AuditRecord record);
  // Queues `record` without an acknowledgement, for calls that change nothing (lookups) and are
  // answered before their record is durable: it is committed, in queue order, within
  // kUnacknowledgedFlushMs together with whatever else is queued. Waking the writer and waiting
  // for it per call cost more than the lookup itself (bench_service). So a crash loses at most the
  // records of the last few milliseconds of lookups. Fails closed: while the newest commit of such
  // records has failed, returns that error (the record is still queued), and while kMaxQueued
  // records wait for the disk, Unavailable (the record is dropped: memory stays bounded); either
  // way the caller must not answer with the lookup's result.
  [[nodiscard]] virtual absl::Status AppendUnacknowledged(AuditRecord record) = 0;
  [[nodiscard]] virtual absl::StatusOr<AuditVerification> Verify() = 0;
};

[[nodiscard]] absl::StatusOr<std::unique_ptr<AuditLog>> OpenAuditLog(const std::string& path);

}  // namespace hashmatch::server

// engine/server: hashmatchd. This is the module's one public header: the gRPC services of
// proto/hashmatch/v1 over a Store, a Matcher, the key table and the audit log. Every call:
// authenticate (Bearer key), authorise by role (internal/auth.h), rate limit per key, bound the
// input, answer, append one audit record. The services are thin: hashing is engine/describe's,
// bundle checks engine/bundle's, matching rules index/'s; every message and enum conversion and
// the only Status -> gRPC mapping are in internal/proto_convert.
//
// Thread-safety: Services is thread-safe (gRPC calls it from many threads); AttachMatcher and
// Drain may be called from any thread. Include only from hashmatchd and tests: it pulls in gRPC.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/server/internal/audit.h"
#include "engine/server/internal/bundles.h"
#include "engine/server/internal/keys.h"
#include "index/matcher.h"
#include "index/store.h"

namespace hashmatch::server {

struct ServiceLimits {
  int max_batch = 10'000;  // hashes per MatchHashes, items per batch
  std::size_t max_image_bytes = std::size_t{50} << 20;
  std::int64_t max_image_pixels = 100'000'000;
  std::size_t max_video_bytes = std::size_t{256} << 20;  // MatchVideo file, held in memory
  int max_video_frames = 100'000;                        // MatchVideo frame hashes
  int max_concurrent_videos = 2;                         // MatchVideo decodes at once
  double max_video_seconds = 600;  // MatchVideo's deadline after the upload (decode + lookups)
  double default_rate_per_second = 200;  // per key, when the key sets none; burst = 2 s worth
  double max_call_seconds = 30;          // per unary call and per AddDescriptors batch
  // MatchService calls are answered once their audit record is queued (committed within a few
  // milliseconds, AuditLog::AppendUnacknowledged); true: after its commit, like every other call.
  bool audit_commit_lookups = false;
};

// The three services. The matcher may be attached after the server starts (index loading):
// until then match calls are UNAVAILABLE.
class Services {
 public:
  Services(index::Store* store, KeyTable* keys, AuditLog* audit, BundleInbox* bundles,
           ServiceLimits limits);
  ~Services();
  void AttachMatcher(index::Matcher* matcher);
  bool ready() const;  // a matcher is attached
  // Graceful stop, before grpc::Server::Shutdown: calls arriving from now on are answered
  // UNAVAILABLE, and this waits up to `timeout_seconds` for the calls in flight to be answered.
  // Returns how many were still running (0: all answered).
  int Drain(double timeout_seconds);

  grpc::Service* match_service();
  grpc::Service* ingest_service();
  grpc::Service* admin_service();
  // Calls, latencies, lookups and index gauges in the Prometheus text format.
  std::string PrometheusMetrics() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashmatch::server

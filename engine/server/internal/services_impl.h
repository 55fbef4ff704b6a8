// engine/server/internal/services_impl: what the three service files (service.cc,
// ingest_service.cc, admin_service.cc) share: the per-call record, hash parsing, and
// Services::Impl — authentication, rate limits, deadlines, auditing and lookups. Internal to
// engine/server.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "engine/server/internal/bundles.h"
#include "engine/server/internal/metrics.h"
#include "engine/server/internal/proto_convert.h"
#include "engine/server/service.h"
#include "engine/sys/sys.h"
#include "hashmatch/v1/admin.grpc.pb.h"
#include "hashmatch/v1/ingest.grpc.pb.h"
#include "hashmatch/v1/match.grpc.pb.h"

namespace hashmatch::server {

// Token bucket per key: `rate` per second, bursts of two seconds' worth.
class RateLimiter {
 public:
  bool Allow(const std::string& key_id, double rate) {
    const double now = sys::MonotonicSeconds();
    std::lock_guard lock(mu_);
    Bucket& b = buckets_[key_id];
    const double capacity = std::max(1.0, 2 * rate);
    if (b.time == 0) b = {capacity, now};
    b.tokens = std::min(capacity, b.tokens + (now - b.time) * rate);
    b.time = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

 private:
  struct Bucket {
    double tokens = 0;
    double time = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// The caller of one RPC and what its audit record will say.
struct Call {
  Call(grpc::ServerContextBase* c, std::string m) : context(c), method(std::move(m)) {}
  grpc::ServerContextBase* context;
  std::string method;
  // The earlier of the client's deadline and the server's --max-call-seconds limit.
  std::chrono::system_clock::time_point deadline;
  double deadline_seconds = 0;  // the server's limit in force, for the error message
  bool deadline_is_servers = false;
  ApiKeyInfo key;
  bool authenticated = false;
  std::int64_t items = 0;
  std::vector<std::int64_t> descriptor_ids;
};

struct Services::Impl {
  index::Store* store = nullptr;
  KeyTable* keys = nullptr;
  AuditLog* audit = nullptr;
  BundleInbox* bundles = nullptr;
  ServiceLimits limits;
  std::unique_ptr<grpc::Service> match_service, ingest_service, admin_service;
  std::atomic<index::Matcher*> matcher{nullptr};
  RateLimiter limiter;
  Metrics metrics;
  // Calls between entering ServeAsync and being answered; with `draining`, new calls are
  // answered UNAVAILABLE (Services::Drain).
  std::atomic<int> in_flight{0};
  std::atomic<bool> draining{false};

  // Authenticates and authorises `call->method`; a non-OK status is the RPC's answer.
  grpc::Status Begin(grpc::ServerContextBase* context, Call* call);

  // One RPC: authenticate and authorise, run, audit. `answer` gets the status once the audit
  // record is committed (on the audit log's thread), or for lookups (MatchService, unless
  // limits.audit_commit_lookups) once it is queued: see AuditLog::AppendUnacknowledged. Either
  // way an audit log that cannot be written turns the answer into INTERNAL (UNAVAILABLE while it
  // is only behind).
  template <typename Run>
  void ServeAsync(grpc::ServerContextBase* context, const char* method, Run run,
                  std::function<void(const grpc::Status&)> answer) {
    const auto start = std::chrono::steady_clock::now();
    in_flight.fetch_add(1);
    Call call(context, method);
    RestartDeadline(&call);
    grpc::Status status = draining.load()
                              ? grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                             "the server is shutting down; retry shortly")
                              : Begin(context, &call);
    if (status.ok()) status = run(call);
    AuditRecord record{sys::NowMs(),
                       call.key.key_id,
                       call.authenticated ? std::string(RoleName(call.key.role)) : "",
                       call.method,
                       CodeName(status.error_code()),
                       call.items,
                       std::move(call.descriptor_ids)};
    auto finish = [this, start, method, status = std::move(status),
                   answer = std::move(answer)](const absl::Status& audited) {
      grpc::Status final_status = status;
      if (absl::IsUnavailable(audited)) {
        final_status = ToGrpc(audited);  // behind: a retry later will do
      } else if (!audited.ok()) {
        final_status =
            grpc::Status(grpc::StatusCode::INTERNAL,
                         "the audit log could not be written; the call was not completed");
      }
      metrics.RecordCall(
          method, final_status.error_code(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      answer(final_status);
      in_flight.fetch_sub(1);
    };
    if (!limits.audit_commit_lookups && IsLookup(method)) {
      finish(audit->AppendUnacknowledged(std::move(record)));
    } else {
      audit->AppendAsync(std::move(record), std::move(finish));
    }
  }

  static bool IsLookup(std::string_view method) {
    return method.rfind("/hashmatch.v1.MatchService/", 0) == 0;
  }

  // ServeAsync for the sync API: waits for the audit commit.
  template <typename Run>
  grpc::Status Serve(grpc::ServerContextBase* context, const char* method, Run run) {
    std::promise<grpc::Status> answer;
    ServeAsync(context, method, run, [&](const grpc::Status& s) { answer.set_value(s); });
    return answer.get_future().get();
  }

  // Starts the server's time limit for a call, or for the next batch of a stream.
  // `seconds`: the limit to apply; 0 means limits.max_call_seconds.
  void RestartDeadline(Call* call, double seconds = 0) const;

  // Checked between the steps of a call: stop work nobody will read.
  grpc::Status CheckDeadline(const Call& call) const;

  index::Matcher* Matcher() const { return matcher.load(std::memory_order_acquire); }

  IndexGauges Gauges() const;

  [[nodiscard]] absl::StatusOr<index::MatchOptions> Options(const Call& call,
                                                            const v1::MatchOptions& in);

  // The API form of one match, cut to what the caller's role may see.
  void FillMatch(const Call& call, const index::Match& m, Signal signal, v1::Match* out);

  // Looks up parsed hashes (PDQ in one batch call); per-item results in `results`.
  grpc::Status Lookup(Call* call, const std::vector<absl::StatusOr<ParsedHash>>& hashes,
                      const index::MatchOptions& options,
                      google::protobuf::RepeatedPtrField<v1::HashResult>* results);

  void AddMatch(Call* call, const index::Match& m, Signal signal, v1::HashResult* r);

  // MatchVideo's work (match_video.cc).
  grpc::Status RunVideo(Call& call, grpc::ServerReader<v1::MatchVideoChunk>* reader,
                        v1::MatchVideoResponse* response);

  // Videos being decoded now, bounded by limits.max_concurrent_videos.
  std::atomic<int> videos_decoding{0};
  class VideoSlot {
   public:
    explicit VideoSlot(Impl* s) : s_(s) {
      acquired_ = s_->videos_decoding.fetch_add(1) < s_->limits.max_concurrent_videos;
    }
    ~VideoSlot() { s_->videos_decoding.fetch_sub(1); }
    VideoSlot(const VideoSlot&) = delete;
    VideoSlot& operator=(const VideoSlot&) = delete;
    bool acquired() const { return acquired_; }

   private:
    Impl* s_;
    bool acquired_;
  };
};

std::unique_ptr<grpc::Service> MakeIngestService(Services::Impl* s);
std::unique_ptr<grpc::Service> MakeAdminService(Services::Impl* s);

}  // namespace hashmatch::server

// engine/server/internal/metrics: what hashmatchd counts, and the Prometheus text form of it.
//
// Owns per-method call counters (by status code), per-method latency histograms and the
// lookup/match counters. The call path only increments atomics in fixed arrays (one slot per
// method of auth.h's table), so recording never takes a lock; AdminService.GetStats and the
// --metrics-listen endpoint read a Snapshot. Internal to engine/server. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace hashmatch::server {

// Upper bounds of the latency buckets, in seconds; one more bucket counts the slower calls.
inline constexpr std::array<double, 16> kLatencyBucketsSeconds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1,      2.5,   10};
inline constexpr int kStatusCodes = 17;  // gRPC (= Abseil) status codes 0..16

struct MethodMetrics {
  std::string method;  // full gRPC method name
  std::int64_t calls = 0;
  std::array<std::int64_t, kStatusCodes> calls_by_code{};
  // Per bucket (not cumulative); the last entry counts calls slower than every bound.
  std::array<std::int64_t, kLatencyBucketsSeconds.size() + 1> latency_counts{};
  double latency_sum_seconds = 0;

  // The q-quantile (0..1) interpolated within its bucket, as Prometheus's histogram_quantile
  // does; 0 when there were no calls.
  double LatencyQuantile(double q) const;
};

struct MetricsSnapshot {
  std::vector<MethodMetrics> methods;  // the methods called at least once, in table order
  std::int64_t lookups = 0;            // hashes looked up
  std::int64_t matches = 0;            // of which matched
};

// Values read at scrape time from the index.
struct IndexGauges {
  bool ready = false;  // the index is loaded
  std::int64_t entries = 0;
  std::int64_t memory_bytes = 0;
  std::int64_t applied_seq = 0;
};

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // One finished RPC. A method outside auth.h's table is counted as "other".
  void RecordCall(std::string_view method, int status_code, double seconds);
  void RecordLookups(std::int64_t lookups, std::int64_t matches);
  MetricsSnapshot Snapshot() const;

 private:
  struct Slot;
  std::unique_ptr<Slot[]> slots_;  // one per known method, plus "other"
  struct Counters;
  std::unique_ptr<Counters> counters_;
};

// The Prometheus text exposition format (version 0.0.4).
std::string PrometheusText(const MetricsSnapshot& metrics, const IndexGauges& index);

}  // namespace hashmatch::server

#include "engine/server/internal/metrics.h"

#include <algorithm>
#include <atomic>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/server/internal/auth.h"

namespace hashmatch::server {
namespace {

constexpr std::string_view kOtherMethod = "other";

std::size_t SlotCount() { return KnownMethods().size() + 1; }

std::size_t SlotOf(std::string_view method) {
  const auto methods = KnownMethods();
  const auto it = std::find(methods.begin(), methods.end(), method);
  return static_cast<std::size_t>(it - methods.begin());  // == size(): "other"
}

std::string_view SlotName(std::size_t slot) {
  return slot < KnownMethods().size() ? KnownMethods()[slot] : kOtherMethod;
}

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Prometheus renders bounds as plain decimals ("0.00005", "10").
std::string Bound(double seconds) { return absl::StrCat(seconds); }

}  // namespace

struct Metrics::Slot {
  std::atomic<std::int64_t> calls_by_code[kStatusCodes] = {};
  std::atomic<std::int64_t> latency_counts[kLatencyBucketsSeconds.size() + 1] = {};
  std::atomic<std::int64_t> latency_sum_ns{0};
};

struct Metrics::Counters {
  std::atomic<std::int64_t> lookups{0};
  std::atomic<std::int64_t> matches{0};
};

Metrics::Metrics()
    : slots_(std::make_unique<Slot[]>(SlotCount())), counters_(std::make_unique<Counters>()) {}

Metrics::~Metrics() = default;

void Metrics::RecordCall(std::string_view method, int status_code, double seconds) {
  Slot& slot = slots_[SlotOf(method)];
  const int code = status_code >= 0 && status_code < kStatusCodes ? status_code : 2;  // UNKNOWN
  slot.calls_by_code[code].fetch_add(1, std::memory_order_relaxed);
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kLatencyBucketsSeconds.begin(), kLatencyBucketsSeconds.end(), seconds) -
      kLatencyBucketsSeconds.begin());
  slot.latency_counts[bucket].fetch_add(1, std::memory_order_relaxed);
  slot.latency_sum_ns.fetch_add(static_cast<std::int64_t>(seconds * 1e9),
                                std::memory_order_relaxed);
}

void Metrics::RecordLookups(std::int64_t lookups, std::int64_t matches) {
  counters_->lookups.fetch_add(lookups, std::memory_order_relaxed);
  counters_->matches.fetch_add(matches, std::memory_order_relaxed);
}

MetricsSnapshot Metrics::Snapshot() const {
  MetricsSnapshot snapshot;
  for (std::size_t s = 0; s < SlotCount(); ++s) {
    const Slot& slot = slots_[s];
    MethodMetrics m;
    m.method = std::string(SlotName(s));
    for (int c = 0; c < kStatusCodes; ++c) {
      m.calls_by_code[c] = slot.calls_by_code[c].load(std::memory_order_relaxed);
      m.calls += m.calls_by_code[c];
    }
    if (m.calls == 0) continue;
    for (std::size_t b = 0; b < m.latency_counts.size(); ++b) {
      m.latency_counts[b] = slot.latency_counts[b].load(std::memory_order_relaxed);
    }
    m.latency_sum_seconds = static_cast<double>(slot.latency_sum_ns.load()) / 1e9;
    snapshot.methods.push_back(std::move(m));
  }
  snapshot.lookups = counters_->lookups.load(std::memory_order_relaxed);
  snapshot.matches = counters_->matches.load(std::memory_order_relaxed);
  return snapshot;
}

double MethodMetrics::LatencyQuantile(double q) const {
  std::int64_t total = 0;
  for (const std::int64_t c : latency_counts) total += c;
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  double below = 0;
  for (std::size_t b = 0; b < latency_counts.size(); ++b) {
    const auto count = static_cast<double>(latency_counts[b]);
    if (below + count >= rank && count > 0) {
      if (b == kLatencyBucketsSeconds.size()) return kLatencyBucketsSeconds.back();
      const double lower = b == 0 ? 0 : kLatencyBucketsSeconds[b - 1];
      return lower + (kLatencyBucketsSeconds[b] - lower) * (rank - below) / count;
    }
    below += count;
  }
  return kLatencyBucketsSeconds.back();
}

std::string PrometheusText(const MetricsSnapshot& metrics, const IndexGauges& index) {
  std::string out;
  absl::StrAppend(&out,
                  "# HELP hashmatch_rpc_calls_total RPCs finished, by method and status code.\n"
                  "# TYPE hashmatch_rpc_calls_total counter\n");
  for (const MethodMetrics& m : metrics.methods) {
    for (int c = 0; c < kStatusCodes; ++c) {
      if (m.calls_by_code[c] == 0) continue;
      absl::StrAppend(&out, "hashmatch_rpc_calls_total{method=\"", m.method, "\",code=\"",
                      CodeName(c), "\"} ", m.calls_by_code[c], "\n");
    }
  }
  absl::StrAppend(&out,
                  "# HELP hashmatch_rpc_latency_seconds Time from a call's arrival to its answer "
                  "(audit record included).\n"
                  "# TYPE hashmatch_rpc_latency_seconds histogram\n");
  for (const MethodMetrics& m : metrics.methods) {
    std::int64_t cumulative = 0;
    for (std::size_t b = 0; b < m.latency_counts.size(); ++b) {
      cumulative += m.latency_counts[b];
      const std::string le =
          b < kLatencyBucketsSeconds.size() ? Bound(kLatencyBucketsSeconds[b]) : "+Inf";
      absl::StrAppend(&out, "hashmatch_rpc_latency_seconds_bucket{method=\"", m.method, "\",le=\"",
                      le, "\"} ", cumulative, "\n");
    }
    absl::StrAppend(&out, "hashmatch_rpc_latency_seconds_sum{method=\"", m.method, "\"} ",
                    m.latency_sum_seconds, "\n", "hashmatch_rpc_latency_seconds_count{method=\"",
                    m.method, "\"} ", cumulative, "\n");
  }
  const auto metric = [&out](absl::string_view name, absl::string_view type, absl::string_view help,
                             std::int64_t value) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                    value, "\n");
  };
  metric("hashmatch_lookups_total", "counter", "Hashes looked up (each item of a batch).",
         metrics.lookups);
  metric("hashmatch_matches_total", "counter", "Lookups that matched.", metrics.matches);
  metric("hashmatch_ready", "gauge", "1 once the index is loaded.", index.ready ? 1 : 0);
  metric("hashmatch_index_entries", "gauge", "Entries in the in-memory index.", index.entries);
  metric("hashmatch_index_memory_bytes", "gauge", "Bytes held by the in-memory index.",
         index.memory_bytes);
  metric("hashmatch_index_applied_seq", "gauge", "Change-log position the index reflects.",
         index.applied_seq);
  return out;
}

}  // namespace hashmatch::server

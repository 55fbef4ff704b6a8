// Counters, histogram buckets, quantiles and the Prometheus text of engine/server/metrics.
#include "engine/server/internal/metrics.h"

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

namespace hashmatch::server {
namespace {

constexpr const char* kMatchHashes = "/hashmatch.v1.MatchService/MatchHashes";

const MethodMetrics* Find(const MetricsSnapshot& s, const std::string& method) {
  for (const MethodMetrics& m : s.methods) {
    if (m.method == method) return &m;
  }
  return nullptr;
}

TEST_CASE("calls land in their code and latency bucket, from many threads", "[server][metrics]") {
  Metrics metrics;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) metrics.RecordCall(kMatchHashes, 0, 0.0003);  // <= 0.0005
    });
  }
  for (std::thread& t : threads) t.join();
  metrics.RecordCall(kMatchHashes, 7, 3.0);         // PERMISSION_DENIED, in the (2.5, 10] bucket
  metrics.RecordCall(kMatchHashes, 4, 60.0);        // DEADLINE_EXCEEDED, slower than every bound
  metrics.RecordCall("/no.Such/Method", 0, 0.001);  // counted as "other"
  metrics.RecordLookups(10, 3);

  const MetricsSnapshot s = metrics.Snapshot();
  REQUIRE(s.methods.size() == 2);  // only the methods called
  const MethodMetrics* m = Find(s, kMatchHashes);
  REQUIRE(m != nullptr);
  CHECK(m->calls == 4002);
  CHECK(m->calls_by_code[0] == 4000);
  CHECK(m->calls_by_code[7] == 1);
  CHECK(m->calls_by_code[4] == 1);
  CHECK(m->latency_counts[3] == 4000);  // kLatencyBucketsSeconds[3] == 0.0005
  CHECK(m->latency_counts[kLatencyBucketsSeconds.size() - 1] == 1);
  CHECK(m->latency_counts.back() == 1);
  CHECK(m->latency_sum_seconds == Approx(4000 * 0.0003 + 63).epsilon(1e-6));
  // The median lies in (0.00025, 0.0005]: interpolated halfway in.
  CHECK(m->LatencyQuantile(0.5) == Approx(0.00025 + 0.00025 * 0.5).epsilon(0.01));
  CHECK(m->LatencyQuantile(1.0) == kLatencyBucketsSeconds.back());
  REQUIRE(Find(s, "other") != nullptr);
  CHECK(s.lookups == 10);
  CHECK(s.matches == 3);
}

TEST_CASE("the Prometheus text has cumulative buckets, sums, counts and the gauges",
          "[server][metrics]") {
  Metrics metrics;
  metrics.RecordCall(kMatchHashes, 0, 0.00004);
  metrics.RecordCall(kMatchHashes, 0, 0.2);
  metrics.RecordCall(kMatchHashes, 16, 0.2);  // UNAUTHENTICATED
  const std::string text = PrometheusText(metrics.Snapshot(), {true, 176, 7314, 176});
  const std::string method = std::string("method=\"") + kMatchHashes + "\"";
  for (const std::string& line : std::vector<std::string>{
           "# TYPE hashmatch_rpc_calls_total counter",
           "hashmatch_rpc_calls_total{" + method + ",code=\"OK\"} 2",
           "hashmatch_rpc_calls_total{" + method + ",code=\"UNAUTHENTICATED\"} 1",
           "# TYPE hashmatch_rpc_latency_seconds histogram",
           "hashmatch_rpc_latency_seconds_bucket{" + method + ",le=\"5e-05\"} 1",
           "hashmatch_rpc_latency_seconds_bucket{" + method + ",le=\"0.1\"} 1",
           "hashmatch_rpc_latency_seconds_bucket{" + method + ",le=\"0.25\"} 3",
           "hashmatch_rpc_latency_seconds_bucket{" + method + ",le=\"+Inf\"} 3",
           "hashmatch_rpc_latency_seconds_count{" + method + "} 3",
           "hashmatch_ready 1",
           "hashmatch_index_entries 176",
           "hashmatch_index_memory_bytes 7314",
       }) {
    INFO(line);
    CHECK(text.find(line + "\n") != std::string::npos);
  }
  CHECK(text.find("code=\"PERMISSION_DENIED\"") == std::string::npos);  // codes never returned
}

}  // namespace
}  // namespace hashmatch::server

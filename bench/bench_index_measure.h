// bench/bench_index_measure: bench_index's measuring parts: the workload (stored codes and the
// planted queries), timing single and batch calls of one structure with its recall, the result
// row, and FAISS range search as label lists. Single-threaded helpers.
#pragma once

#include <faiss/IndexBinary.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace hashmatch::bench {

using Clock = std::chrono::steady_clock;
using Labels = std::vector<std::int64_t>;
inline constexpr int kCodeBytes = 32;

double Seconds(Clock::time_point a, Clock::time_point b);
// This process's resident memory, after returning freed memory to the system.
double RssBytes();
double Percentile(std::vector<double> v, double p);

struct Result {
  std::string name;
  double build_s = 0, load_s = -1, bytes_per_hash = 0, p50_us = 0, p99_us = 0, batch_qps = 0,
         recall = 0;
};

struct Workload {
  std::int64_t n = 0;
  int threshold = 31, batch = 1000, single = 300;
  double seconds_per_phase = 20;  // slow baselines stop early, after at least one batch
  std::vector<std::uint8_t> queries;
  std::vector<std::int64_t> planted;  // stored label of each query, or -1
  std::vector<int> planted_distance;
  int query_count() const { return static_cast<int>(planted.size()); }
  const std::uint8_t* query(int i) const {
    return &queries[static_cast<std::size_t>(i) * kCodeBytes];
  }
};

// Times single and batch calls of one structure and checks recall on the planted queries.
// `expected[q]`: the label the structure must return for planted query q (or -1).
void Measure(const Workload& w, const std::vector<std::int64_t>& expected_label, Result* r,
             const std::function<Labels(const std::uint8_t*)>& one,
             const std::function<std::vector<Labels>(const std::uint8_t*, int)>& batch);

// One table row on stdout.
void Print(const Result& r);

// FAISS range_search as Labels (FAISS keeps distance < radius: pass threshold + 1).
std::vector<Labels> FaissRange(const faiss::IndexBinary& index, const std::uint8_t* q, int nq,
                               int threshold);

}  // namespace hashmatch::bench

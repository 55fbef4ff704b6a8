#include "bench/bench_index_measure.h"

#include <faiss/impl/AuxIndexStructures.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace hashmatch::bench {

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double RssBytes() {
  malloc_trim(0);
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void Measure(const Workload& w, const std::vector<std::int64_t>& expected_label, Result* r,
             const std::function<Labels(const std::uint8_t*)>& one,
             const std::function<std::vector<Labels>(const std::uint8_t*, int)>& batch) {
  int found = 0, expected = 0, done = 0;
  const auto start = Clock::now();
  for (int b0 = 0; b0 < w.query_count(); b0 += w.batch) {
    const int nb = std::min(w.batch, w.query_count() - b0);
    const std::vector<Labels> hits = batch(w.query(b0), nb);
    for (int i = 0; i < nb; ++i) {
      const int q = b0 + i;
      if (w.planted[q] < 0 || w.planted_distance[q] > w.threshold) continue;
      ++expected;
      found += std::count(hits[i].begin(), hits[i].end(), expected_label[q]) > 0;
    }
    done += nb;
    if (Seconds(start, Clock::now()) > w.seconds_per_phase) break;
  }
  r->batch_qps = done / Seconds(start, Clock::now());
  r->recall = expected ? static_cast<double>(found) / expected : 1.0;
  std::vector<double> us;
  const auto single_start = Clock::now();
  for (int i = 0; i < std::min(w.single, w.query_count()); ++i) {
    const auto t0 = Clock::now();
    const Labels hits = one(w.query(i));
    us.push_back(1e6 * Seconds(t0, Clock::now()));
    if (Seconds(single_start, Clock::now()) > w.seconds_per_phase && us.size() >= 20) break;
  }
  r->p50_us = Percentile(us, 0.50);
  r->p99_us = Percentile(us, 0.99);
}

void Print(const Result& r) {
  std::printf(
      "%-36s build %7.2f s  load %6s  %6.1f B/hash   p50 %9.1f us  p99 %9.1f us  "
      "batch %9.1f q/s  recall %.4f\n",
      r.name.c_str(), r.build_s,
      r.load_s < 0 ? "-" : (std::to_string(r.load_s).substr(0, 5) + " s").c_str(), r.bytes_per_hash,
      r.p50_us, r.p99_us, r.batch_qps, r.recall);
  std::fflush(stdout);
}

std::vector<Labels> FaissRange(const faiss::IndexBinary& index, const std::uint8_t* q, int nq,
                               int threshold) {
  faiss::RangeSearchResult res(nq);
  index.range_search(nq, q, threshold + 1, &res);
  std::vector<Labels> out(nq);
  for (int i = 0; i < nq; ++i)
    out[i].assign(res.labels + res.lims[i], res.labels + res.lims[i + 1]);
  return out;
}

}  // namespace hashmatch::bench

// bench_index: exact PDQ range search, our multi-index hashing next to FAISS in the same run.
//
// Synthetic data: --n random 256-bit codes (uniform, or --clustered: near-identical groups),
// plus planted near-duplicates of random stored codes at distances 0..40. For each structure:
// build time, bytes per hash (index memory), single-query p50/p99, batch throughput (batches of
// --batch queries on all cores) and recall of the planted matches within --threshold.
// Structures: ours (MihIndex), FAISS IndexBinaryFlat (brute force, the exactness oracle) and
// FAISS IndexBinaryMultiHash 16x16 nflip 1 (what HMA ships).
// Not measured yet (need the Store/Matcher): load from snapshot, add->visible, ingest rate.
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/AuxIndexStructures.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "index/internal/mih_index.h"

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
constexpr int kBytes = 32;

struct Result {
  std::string name;
  double build_s = 0, bytes_per_hash = 0, p50_us = 0, p99_us = 0, batch_qps = 0, recall = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_index: exact PDQ range search, ours next to FAISS"};
  int64_t n = 1'000'000;
  int queries = 2000, batch = 1000, threshold = 31, chunks = 11, single = 300;
  bool clustered = false, skip_hma = false;
  std::string json_path;
  app.add_option("--n", n, "Stored codes")->capture_default_str();
  app.add_option("--queries", queries, "Batch queries (planted + random)")->capture_default_str();
  app.add_option("--batch", batch, "Queries per batch call")->capture_default_str();
  app.add_option("--single", single, "Single-query calls timed for p50/p99")->capture_default_str();
  app.add_option("--threshold", threshold, "Match when distance <= this")->capture_default_str();
  app.add_option("--chunks", chunks, "MIH sub-codes")->capture_default_str();
  app.add_flag("--clustered", clustered, "Clustered codes (groups of near-identical hashes)");
  app.add_flag("--skip-hma", skip_hma, "Skip FAISS IndexBinaryMultiHash (slow to build at 10 M)");
  app.add_option("--json", json_path, "Also write the figures as JSON");
  CLI11_PARSE(app, argc, argv);

  std::mt19937_64 rng(12345);
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n) * kBytes);
  auto flip = [&](std::uint8_t* code, int distance) {
    std::vector<int> bits(256);
    for (int i = 0; i < 256; ++i) bits[i] = i;
    for (int i = 0; i < distance; ++i) {
      std::swap(bits[i], bits[i + rng() % (256 - i)]);
      code[bits[i] / 8] ^= static_cast<std::uint8_t>(1 << (bits[i] % 8));
    }
  };
  if (clustered) {
    // Groups of 100 codes within 0..24 bits of a random centre.
    std::vector<std::uint8_t> centre(kBytes);
    for (int64_t i = 0; i < n; ++i) {
      if (i % 100 == 0)
        for (auto& b : centre) b = static_cast<std::uint8_t>(rng());
      std::copy(centre.begin(), centre.end(), &codes[i * kBytes]);
      flip(&codes[i * kBytes], static_cast<int>(rng() % 25));
    }
  } else {
    for (auto& b : codes) b = static_cast<std::uint8_t>(rng());
  }
  // Queries: 90 % planted at distance 0..40 from a stored code, 10 % random.
  std::vector<std::uint8_t> q(static_cast<std::size_t>(queries) * kBytes);
  std::vector<int64_t> planted_label(queries, -1);
  std::vector<int> planted_distance(queries, -1);
  for (int i = 0; i < queries; ++i) {
    std::uint8_t* dst = &q[static_cast<std::size_t>(i) * kBytes];
    if (i % 10 == 9) {
      for (int b = 0; b < kBytes; ++b) dst[b] = static_cast<std::uint8_t>(rng());
      continue;
    }
    planted_label[i] = static_cast<int64_t>(rng() % n);
    planted_distance[i] = i % 41;
    std::copy_n(&codes[planted_label[i] * kBytes], kBytes, dst);
    flip(dst, planted_distance[i]);
  }
  std::printf(
      "bench_index: n=%ld %s, %d queries (planted at 0..40 + 10%% random), threshold %d\n\n",
      static_cast<long>(n), clustered ? "clustered" : "uniform", queries, threshold);

  std::vector<Result> results;
  auto measure = [&](const std::string& name, faiss::IndexBinary& index, double build_s,
                     double bytes) {
    Result r{name, build_s, bytes / n};
    // Batch throughput and recall.
    int found = 0, expected = 0;
    const auto start = Clock::now();
    for (int b0 = 0; b0 < queries; b0 += batch) {
      const int nb = std::min(batch, queries - b0);
      faiss::RangeSearchResult res(nb);
      index.range_search(nb, &q[static_cast<std::size_t>(b0) * kBytes], threshold + 1, &res);
      for (int i = 0; i < nb; ++i) {
        const int qi = b0 + i;
        if (planted_label[qi] < 0 || planted_distance[qi] > threshold) continue;
        ++expected;
        for (std::size_t k = res.lims[i]; k < res.lims[i + 1]; ++k) {
          if (res.labels[k] == planted_label[qi]) {
            ++found;
            break;
          }
        }
      }
    }
    r.batch_qps = queries / Seconds(start, Clock::now());
    r.recall = expected ? static_cast<double>(found) / expected : 1.0;
    // Single-query latency.
    std::vector<double> us;
    for (int i = 0; i < std::min(single, queries); ++i) {
      faiss::RangeSearchResult res(1);
      const auto t0 = Clock::now();
      index.range_search(1, &q[static_cast<std::size_t>(i) * kBytes], threshold + 1, &res);
      us.push_back(1e6 * Seconds(t0, Clock::now()));
    }
    std::sort(us.begin(), us.end());
    r.p50_us = us[us.size() / 2];
    r.p99_us = us[std::min(us.size() - 1, us.size() * 99 / 100)];
    results.push_back(r);
    std::printf(
        "%-34s build %7.2f s  %6.1f B/hash  p50 %9.1f us  p99 %9.1f us  batch %9.1f q/s  "
        "recall %.4f\n",
        r.name.c_str(), r.build_s, r.bytes_per_hash, r.p50_us, r.p99_us, r.batch_qps, r.recall);
    std::fflush(stdout);
  };

  {
    auto t0 = Clock::now();
    hashmatch::index::internal::MihIndex mih(chunks);
    mih.add(n, codes.data());
    measure("hashmatch MIH " + std::to_string(chunks) + " chunks", mih, Seconds(t0, Clock::now()),
            static_cast<double>(mih.MemoryBytes()));
  }
  {
    auto t0 = Clock::now();
    faiss::IndexBinaryFlat flat(256);
    flat.add(n, codes.data());
    measure("FAISS IndexBinaryFlat (brute force)", flat, Seconds(t0, Clock::now()),
            static_cast<double>(n) * kBytes);
  }
  if (!skip_hma) {
    auto t0 = Clock::now();
    faiss::IndexBinaryMultiHash hma(256, 16, 16);
    hma.nflip = 1;
    hma.add(n, codes.data());
    // Its hash maps are std::unordered_maps: estimate 16 maps x (node ~32 B + bucket 8 B) per
    // distinct key, plus the id lists and codes. Reported as an estimate.
    const double bytes = static_cast<double>(n) * (kBytes + 16 * (8 + 40));
    measure("FAISS MultiHash 16x16 nflip1 (HMA) *", hma, Seconds(t0, Clock::now()), bytes);
  }

  if (!skip_hma)
    std::printf("* bytes/hash estimated (its std::unordered_maps are not measurable)\n");
  const Result& ours = results[0];
  const Result& flat = results[1];
  std::printf("\nours vs brute force: batch %.1fx, single p50 %.1fx\n",
              ours.batch_qps / flat.batch_qps, flat.p50_us / ours.p50_us);
  if (results.size() > 2) {
    std::printf("ours vs HMA's FAISS configuration: batch %.1fx\n",
                ours.batch_qps / results[2].batch_qps);
  }
  if (!json_path.empty()) {
    std::ofstream js(json_path);
    js << "{\"n\":" << n << ",\"clustered\":" << (clustered ? "true" : "false")
       << ",\"structures\":[";
    for (std::size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      js << (i ? "," : "") << "{\"name\":\"" << r.name << "\",\"n\":" << n
         << ",\"build_s\":" << r.build_s
         << ",\"load_s\":null,\"bytes_per_hash\":" << r.bytes_per_hash
         << ",\"single_p50_us\":" << r.p50_us << ",\"single_p99_us\":" << r.p99_us
         << ",\"batch_qps\":" << r.batch_qps << ",\"recall\":" << r.recall << "}";
    }
    js << "],\"add_visible_p99_ms\":null,\"ingest_per_s\":null}\n";
  }
  return ours.recall == 1.0 ? 0 : 1;
}

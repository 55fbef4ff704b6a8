// bench_index: the PDQ index at scale, ours next to the baselines in the same run.
//
// Data: --n random 256-bit codes (uniform, or --clustered: groups of near-identical hashes) and
// queries planted at distances 0..40 from stored codes (plus 10 % random). Ours is the whole
// Matcher over a real SQLite store: durable bulk ingest, rebuild, snapshot write and load, RSS per
// hash, single-query p50/p99, batch throughput (batches of --batch on all cores), recall of the
// planted matches within --threshold, and add->visible latency (commit to matchable). Baselines:
// a brute-force AVX-512 popcount scan (cache-blocked batches), FAISS IndexBinaryMultiHash 16x16
// nflip 1 (what HMA ships) and, with --flat, FAISS IndexBinaryFlat.
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexBinaryHash.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <malloc.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_index_measure.h"
#include "bench/bench_json.h"
#include "index/internal/hamming_scan.h"
#include "index/internal/mih_index.h"
#include "index/matcher.h"
#include "index/store.h"

namespace {

namespace hi = hashmatch::index;
using hashmatch::bench::Clock;
using hashmatch::bench::FaissRange;
using hashmatch::bench::Labels;
using hashmatch::bench::Measure;
using hashmatch::bench::Percentile;
using hashmatch::bench::Print;
using hashmatch::bench::Result;
using hashmatch::bench::RssBytes;
using hashmatch::bench::Seconds;
using hashmatch::bench::Workload;
constexpr int kBytes = hashmatch::bench::kCodeBytes;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_index: the PDQ index at scale, ours next to FAISS and a brute-force scan"};
  Workload w;
  w.n = 1'000'000;
  int queries = 2000, ingest_batch = 10'000, visible_samples = 200;
  bool clustered = false, skip_hma = false, with_flat = false, with_best_faiss = false;
  std::string json_path, dir = "/tmp/hm_bench_index";
  app.add_option("--n", w.n, "Stored codes")->capture_default_str();
  app.add_option("--queries", queries, "Queries (planted + random)")->capture_default_str();
  app.add_option("--batch", w.batch, "Queries per batch call")->capture_default_str();
  app.add_option("--single", w.single, "Single-query calls timed for p50/p99")
      ->capture_default_str();
  app.add_option("--threshold", w.threshold, "Match when distance <= this")->capture_default_str();
  app.add_option("--ingest-batch", ingest_batch, "Descriptors per store transaction")
      ->capture_default_str();
  app.add_option("--seconds", w.seconds_per_phase, "Time cap per phase for slow baselines")
      ->capture_default_str();
  app.add_option("--dir", dir, "Scratch folder for the store and snapshot (emptied)")
      ->capture_default_str();
  app.add_flag("--clustered", clustered, "Clustered codes (groups of near-identical hashes)");
  app.add_flag("--skip-hma", skip_hma, "Skip FAISS IndexBinaryMultiHash (slow to build at 10 M)");
  app.add_flag("--faiss-8x32", with_best_faiss,
               "Also run FAISS MultiHash 8x32 nflip3 (its fastest exact option; ~7 GB at 10 M)");
  app.add_flag("--flat", with_flat, "Also run FAISS IndexBinaryFlat (slow: no POPCNT in Debian's)");
  app.add_option("--json", json_path, "Also write the figures as JSON");
  CLI11_PARSE(app, argc, argv);
  const int threads = static_cast<int>(std::thread::hardware_concurrency());

  // --- data ---
  std::mt19937_64 rng(12345);
  const std::int64_t n = w.n;
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
    // Groups of 100 codes within 1..24 bits of a random centre (near-identical images).
    std::vector<std::uint8_t> centre(kBytes);
    for (std::int64_t i = 0; i < n; ++i) {
      if (i % 100 == 0) {
        for (auto& b : centre) b = static_cast<std::uint8_t>(rng());
      }
      std::copy(centre.begin(), centre.end(), &codes[i * kBytes]);
      flip(&codes[i * kBytes], 1 + static_cast<int>(rng() % 24));
    }
  } else {
    for (auto& b : codes) b = static_cast<std::uint8_t>(rng());
  }
  w.queries.resize(static_cast<std::size_t>(queries) * kBytes);
  w.planted.assign(queries, -1);
  w.planted_distance.assign(queries, -1);
  for (int i = 0; i < queries; ++i) {
    std::uint8_t* dst = &w.queries[static_cast<std::size_t>(i) * kBytes];
    if (i % 10 == 9) {
      for (int b = 0; b < kBytes; ++b) dst[b] = static_cast<std::uint8_t>(rng());
      continue;
    }
    w.planted[i] = static_cast<std::int64_t>(rng() % n);
    w.planted_distance[i] = i % 41;
    std::copy_n(&codes[w.planted[i] * kBytes], kBytes, dst);
    flip(dst, w.planted_distance[i]);
  }
  std::printf(
      "bench_index: n=%ld %s, %d queries (planted at 0..40 + 10%% random), threshold %d, "
      "%d threads, scan kernel %s\n\n",
      static_cast<long>(n), clustered ? "clustered" : "uniform", queries, w.threshold, threads,
      hi::internal::ScanUsesAvx512() ? "AVX-512 VPOPCNTDQ" : "POPCNT");
  std::vector<Result> results;

  // --- ours: store ingest, rebuild, snapshot, load, queries, add->visible ---
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  double ingest_per_s = 0, add_visible_p99_ms = 0;
  {
    auto store = *hi::OpenSqliteStore(dir + "/store.db");
    std::vector<std::int64_t> label_to_id(n);
    const auto t0 = Clock::now();
    for (std::int64_t b0 = 0; b0 < n; b0 += ingest_batch) {
      std::vector<hi::NewDescriptor> items;
      for (std::int64_t i = b0; i < std::min(n, b0 + ingest_batch); ++i) {
        items.push_back({hashmatch::Signal::kPdq,
                         std::string(reinterpret_cast<const char*>(&codes[i * kBytes]), kBytes),
                         100, "A1", hashmatch::DescriptorStatus::kVerified});
      }
      const auto added = store->Add({"bench", "", "bench", ""}, items);
      if (!added.ok()) {
        std::fprintf(stderr, "ingest failed: %s\n", std::string(added.status().message()).c_str());
        return 2;
      }
      for (std::size_t k = 0; k < items.size(); ++k) label_to_id[b0 + k] = added->ids[k];
    }
    ingest_per_s = static_cast<double>(n) / Seconds(t0, Clock::now());
    std::printf(
        "store: durable bulk ingest %.0f descriptors/s (batches of %d, WAL, synchronous=FULL)\n",
        ingest_per_s, ingest_batch);
    std::vector<std::int64_t> expected(w.planted.size(), -1);
    for (std::size_t q = 0; q < expected.size(); ++q) {
      if (w.planted[q] >= 0) expected[q] = label_to_id[w.planted[q]];
    }

    Result r;
    r.name = "hashmatch Matcher (MIH 11 + tail)";
    hi::MatcherOptions options;
    options.snapshot_path = dir + "/index.snapshot";
    options.log = [](std::string_view) {};
    {
      // Build time of the structure alone, from codes in memory (what a merge costs).
      hi::internal::MihIndex mih;
      std::vector<std::uint32_t> labels(n);
      const auto b0 = Clock::now();
      mih.Build(codes, labels, threads);
      r.build_s = Seconds(b0, Clock::now());
    }
    {
      const auto o0 = Clock::now();
      auto rebuilt = *hi::Matcher::Open(store.get(), options);
      std::printf("matcher: rebuilt from the store (scan + build) in %.2f s\n",
                  Seconds(o0, Clock::now()));
      const auto s0 = Clock::now();
      if (!rebuilt->WriteSnapshot().ok()) return 2;
      std::printf("matcher: snapshot written in %.2f s (%.0f MB)\n", Seconds(s0, Clock::now()),
                  static_cast<double>(std::filesystem::file_size(options.snapshot_path)) / 1e6);
    }
    const double rss0 = RssBytes();
    const auto l0 = Clock::now();
    auto matcher = *hi::Matcher::Open(store.get(), options);
    r.load_s = Seconds(l0, Clock::now());
    r.bytes_per_hash = (RssBytes() - rss0) / static_cast<double>(n);
    hi::MatchOptions match_options;
    match_options.max_distance = w.threshold;
    auto to_labels = [](const std::vector<hi::Match>& matches) {
      Labels out;
      for (const hi::Match& m : matches) out.push_back(m.id);
      return out;
    };
    Measure(
        w, expected, &r,
        [&](const std::uint8_t* q) {
          hashmatch::Pdq256 h;
          std::copy_n(q, kBytes, h.bytes.begin());
          return to_labels(*matcher->MatchPdq(h, match_options));
        },
        [&](const std::uint8_t* q, int nq) {
          std::vector<hashmatch::Pdq256> hashes(nq);
          for (int i = 0; i < nq; ++i) std::copy_n(q + i * kBytes, kBytes, hashes[i].bytes.begin());
          const auto batch = matcher->MatchPdqBatch(hashes, match_options);
          std::vector<Labels> out;
          for (const auto& matches : *batch) out.push_back(to_labels(matches));
          return out;
        });
    results.push_back(r);
    Print(r);

    // add -> visible: one descriptor committed, then CatchUp until a lookup finds it.
    std::vector<double> ms;
    std::mt19937_64 fresh(99);
    for (int i = 0; i < visible_samples; ++i) {
      std::string value(kBytes, '\0');
      for (char& c : value) c = static_cast<char>(fresh());
      const auto added =
          store->Add({"bench", "", "bench", ""},
                     std::vector<hi::NewDescriptor>{{hashmatch::Signal::kPdq, value, 100, "A1",
                                                     hashmatch::DescriptorStatus::kVerified}});
      const auto committed = Clock::now();
      if (!added.ok() || !matcher->CatchUp().ok()) return 2;
      hashmatch::Pdq256 h;
      std::copy(value.begin(), value.end(), h.bytes.begin());
      if (matcher->MatchPdq(h, match_options)->empty()) {
        std::fprintf(stderr, "added descriptor not visible after CatchUp\n");
        return 1;
      }
      ms.push_back(1e3 * Seconds(committed, Clock::now()));
    }
    add_visible_p99_ms = Percentile(ms, 0.99);
    std::printf("%-36s add->visible p50 %.3f ms, p99 %.3f ms (%d single adds, merger running)\n",
                "", Percentile(ms, 0.5), add_visible_p99_ms, visible_samples);
  }

  // --- brute-force scan ---
  {
    Result r;
    r.name = "brute-force popcount scan";
    r.bytes_per_hash = kBytes;
    auto to_labels = [&](const std::vector<std::uint32_t>& positions) {
      Labels out;
      for (const std::uint32_t p : positions) out.push_back(p);
      return out;
    };
    Measure(
        w, w.planted, &r,
        [&](const std::uint8_t* q) {
          std::vector<std::uint32_t> positions;
          hi::internal::ScanWithinOne(codes.data(), n, q, w.threshold, &positions);
          return to_labels(positions);
        },
        [&](const std::uint8_t* q, int nq) {
          std::vector<std::vector<std::uint32_t>> positions(nq);
          // Split the batch across the cores; each thread scans in cache-sized blocks.
          std::vector<std::thread> pool;
          const int per = (nq + threads - 1) / threads;
          for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
              const int first = t * per, count = std::max(0, std::min(nq, first + per) - first);
              std::vector<std::vector<std::uint32_t>> part(count);
              hi::internal::ScanWithin(codes.data(), n, q + first * kBytes, count, w.threshold,
                                       &part);
              for (int i = 0; i < count; ++i) positions[first + i] = std::move(part[i]);
            });
          }
          for (std::thread& t : pool) t.join();
          std::vector<Labels> out;
          for (const auto& p : positions) out.push_back(to_labels(p));
          return out;
        });
    results.push_back(r);
    Print(r);
  }

  // --- FAISS ---
  auto faiss_result = [&](const std::string& name, faiss::IndexBinary& index, double build_s,
                          double bytes) {
    Result r;
    r.name = name;
    r.build_s = build_s;
    r.bytes_per_hash = bytes / static_cast<double>(n);
    Measure(
        w, w.planted, &r,
        [&](const std::uint8_t* q) { return FaissRange(index, q, 1, w.threshold)[0]; },
        [&](const std::uint8_t* q, int nq) { return FaissRange(index, q, nq, w.threshold); });
    results.push_back(r);
    Print(r);
  };
  auto multi_hash = [&](const std::string& name, int tables, int bits, int flips) {
    const double rss0 = RssBytes();
    const auto t0 = Clock::now();
    faiss::IndexBinaryMultiHash index(256, tables, bits);
    index.nflip = flips;
    index.add(n, codes.data());
    faiss_result(name, index, Seconds(t0, Clock::now()), RssBytes() - rss0);
  };
  if (!skip_hma) multi_hash("FAISS MultiHash 16x16 nflip1 (HMA)", 16, 16, 1);
  // FAISS's fastest exact configuration at radius 31 (8 tables: 31 / 8 < 4 flips).
  if (with_best_faiss) multi_hash("FAISS MultiHash 8x32 nflip3", 8, 32, 3);
  if (with_flat) {
    const auto t0 = Clock::now();
    faiss::IndexBinaryFlat flat(256);
    flat.add(n, codes.data());
    faiss_result("FAISS IndexBinaryFlat", flat, Seconds(t0, Clock::now()),
                 static_cast<double>(n) * kBytes);
  }

  const Result& ours = results[0];
  std::printf("\nours vs brute-force scan: batch %.1fx, single p50 %.1fx\n",
              ours.batch_qps / results[1].batch_qps, results[1].p50_us / ours.p50_us);
  for (std::size_t i = 2; i < results.size(); ++i) {
    std::printf("ours vs %s: batch %.1fx, single p50 %.1fx\n", results[i].name.c_str(),
                ours.batch_qps / results[i].batch_qps, results[i].p50_us / ours.p50_us);
  }
  std::printf("store: ingest %.0f/s; add->visible p99 %.3f ms\n", ingest_per_s, add_visible_p99_ms);
  nlohmann::json figures = {{"n", n},
                            {"clustered", clustered},
                            {"threshold", w.threshold},
                            {"add_visible_p99_ms", add_visible_p99_ms},
                            {"ingest_per_s", ingest_per_s}};
  for (const Result& r : results) {
    figures["structures"].push_back(
        {{"name", r.name},
         {"n", n},
         {"build_s", r.build_s},
         {"load_s", r.load_s < 0 ? nlohmann::json() : nlohmann::json(r.load_s)},
         {"bytes_per_hash", r.bytes_per_hash},
         {"single_p50_us", r.p50_us},
         {"single_p99_us", r.p99_us},
         {"batch_qps", r.batch_qps},
         {"recall", r.recall}});
  }
  if (!hashmatch::bench::WriteJson(json_path, figures)) return 2;
  return ours.recall == 1.0 ? 0 : 1;
}

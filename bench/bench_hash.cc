// bench_hash: image hashing throughput, ours next to Meta's reference in the same run.
//
// Measures, on the public test images (or the folders given): decode, PDQ and digest time per
// image on one thread; in-process end-to-end on one thread and on all cores; the `hashmatch hash`
// CLI end to end against `pdq-photo-hasher` on the same files (and checks the hashes are
// identical); and the reference's hash stage alone, by running it on the same pixels saved as PPM
// (CImg reads PPM natively, so that run has no decoder cost) against our PDQ stage.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_json.h"
#include "engine/describe/describe.h"
#include "engine/sys/sys.h"

namespace hm = hashmatch;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

struct Input {
  std::string path;
  std::vector<std::uint8_t> bytes;
};

std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command, returns (seconds, stdout).
std::pair<double, std::string> Run(const std::string& command) {
  const auto start = Clock::now();
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  if (pipe != nullptr) {
    char buf[65536];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
    pclose(pipe);
  }
  return {Seconds(start, Clock::now()), out};
}

// path -> pdq hex from "hash,quality,path" (reference) or "path\thash\t..." (ours).
std::map<std::string, std::string> ParseHashes(const std::string& out, bool reference) {
  std::map<std::string, std::string> hashes;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (reference) {
      const auto a = line.find(','), b = line.find(',', a + 1);
      if (a == std::string::npos || b == std::string::npos) continue;
      hashes[line.substr(b + 1)] = line.substr(0, a) + "," + line.substr(a + 1, b - a - 1);
    } else {
      std::vector<std::string> f;
      std::istringstream fields(line);
      for (std::string x; std::getline(fields, x, '\t');) f.push_back(x);
      if (f.size() >= 3) hashes[f[0]] = f[1] + "," + f[2];
    }
  }
  return hashes;
}

struct Row {
  std::string name;
  double seconds;
  std::size_t images;
  std::size_t bytes;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_hash: image hashing throughput, with Meta's reference as the baseline"};
  std::vector<std::string> dirs;
  std::string reference, json_path;
  int rounds = 3;
  int threads = hm::sys::DefaultThreads();
  const std::string testdata = std::string(HM_SHARED_DIR) + "/testdata/pdq";
  app.add_option("dirs", dirs, "Image files/folders (default: the public test images)");
  app.add_option("--reference", reference, "Path to Meta's pdq-photo-hasher for the baseline");
  app.add_option("--json", json_path, "Also write the figures as JSON to this file");
  app.add_option("--rounds", rounds, "Rounds of each in-process measurement (best is kept)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  app.add_option("--threads", threads, "Threads for the all-cores runs")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (dirs.empty()) dirs = {testdata + "/images", testdata + "/variants", testdata + "/edge"};

  auto files = hm::sys::ListInputFiles(dirs);
  if (!files.ok()) {
    std::fprintf(stderr, "bench_hash: %s\n", std::string(files.status().message()).c_str());
    return 2;
  }
  // Keep the files we can hash; the rest (too small, unsupported) are counted and skipped.
  std::vector<Input> inputs;
  std::size_t total_bytes = 0, skipped = 0;
  {
    hm::describe::Describer describer;
    for (const std::string& path : *files) {
      auto bytes = hm::sys::ReadFileBounded(path, describer.options().image_limits.max_bytes);
      if (!bytes.ok() || !describer.Describe(*bytes, hm::describe::MediaKind::kImage).ok()) {
        ++skipped;
        continue;
      }
      total_bytes += bytes->size();
      inputs.push_back({path, std::move(*bytes)});
    }
  }
  const std::size_t n = inputs.size();
  std::printf("bench_hash: %zu images (%zu skipped), %.1f MB, %d threads, best of %d rounds\n\n", n,
              skipped, total_bytes / 1e6, threads, rounds);
  if (n == 0) return 2;

  std::vector<Row> rows;
  auto best_of = [&](auto&& body) {
    double best = 1e300;
    for (int r = 0; r < rounds; ++r) {
      const auto start = Clock::now();
      body();
      best = std::min(best, Seconds(start, Clock::now()));
    }
    return best;
  };

  // Single-thread stages, on decoded pixels kept in memory between stages.
  const double decode_s = best_of([&] {
    for (const Input& in : inputs) (void)hm::media::DecodeImage(in.bytes);
  });
  std::vector<hm::media::Image> decoded;  // kept for the PDQ stage and the PPM baseline
  decoded.reserve(n);
  for (const Input& in : inputs) decoded.push_back(*hm::media::DecodeImage(in.bytes));
  hm::hash::PdqHasher pdq;
  const double pdq_s = best_of([&] {
    for (const hm::media::Image& img : decoded) {
      const hm::hash::PixelView v{img.bgr(),      img.height(),     img.width(),
                                  img.channels(), img.row_stride(), hm::hash::ChannelOrder::kBgr};
      (void)pdq.Hash(v);
    }
  });
  const double digest_s = best_of([&] {
    for (const Input& in : inputs) (void)hm::hash::ComputeDigests(in.bytes);
  });
  rows.push_back({"decode (1 thread)", decode_s, n, total_bytes});
  rows.push_back({"PDQ stage (1 thread)", pdq_s, n, total_bytes});
  rows.push_back({"digests (1 thread)", digest_s, n, total_bytes});

  auto end_to_end = [&](int t) {
    std::vector<std::unique_ptr<hm::describe::Describer>> describers;
    for (int i = 0; i < t; ++i) describers.push_back(std::make_unique<hm::describe::Describer>());
    return best_of([&] {
      hm::sys::ParallelOrdered(
          n, t, [&](int th, std::size_t i) { (void)describers[th]->Describe(inputs[i].bytes); },
          [](std::size_t) {});
    });
  };
  const double e2e1_s = end_to_end(1);
  const double e2eN_s = end_to_end(threads);
  rows.push_back({"in-process end to end (1 thread)", e2e1_s, n, total_bytes});
  rows.push_back(
      {absl::StrCat("in-process end to end (", threads, " threads)"), e2eN_s, n, total_bytes});

  // CLI end to end, as a user runs it (process start included).
  const std::string bin_dir = fs::path(fs::canonical("/proc/self/exe")).parent_path().string();
  std::string file_args;
  for (const Input& in : inputs) file_args += " " + ShellQuote(in.path);
  const auto [cli_s, cli_out] = Run(ShellQuote(bin_dir + "/hashmatch") + " hash --threads " +
                                    std::to_string(threads) + file_args + " 2>/dev/null");
  rows.push_back(
      {absl::StrCat("hashmatch hash CLI (", threads, " threads)"), cli_s, n, total_bytes});

  double ref_s = 0, ref_ppm_s = 0;
  std::size_t compared = 0, identical = 0;
  if (!reference.empty()) {
    const auto [rs, ref_out] = Run(ShellQuote(reference) + " -k" + file_args + " 2>/dev/null");
    ref_s = rs;
    rows.push_back({"reference pdq-photo-hasher (1 thread)", ref_s, n, total_bytes});
    const auto ours = ParseHashes(cli_out, false), theirs = ParseHashes(ref_out, true);
    for (const auto& [path, value] : theirs) {
      const auto it = ours.find(path);
      if (it == ours.end()) continue;
      ++compared;
      identical += it->second == value;
    }
    // The reference's hash stage alone: the same pixels as PPM, which CImg parses without a
    // decoder library. (This still includes reading and parsing the PPM.)
    char tmpl[] = "/tmp/bench_hash.XXXXXX";
    const std::string tmp = mkdtemp(tmpl);
    std::string ppm_args;
    for (std::size_t i = 0; i < n; ++i) {
      const hm::media::Image& img = decoded[i];
      const std::string path = absl::StrCat(tmp, "/", i, ".ppm");
      std::ofstream out(path, std::ios::binary);
      out << "P6\n" << img.width() << " " << img.height() << "\n255\n";
      std::vector<char> rgb(static_cast<std::size_t>(img.width()) * 3);
      for (int r = 0; r < img.height(); ++r) {
        const std::uint8_t* src = img.bgr().data() + r * img.row_stride();
        for (int c = 0; c < img.width(); ++c) {
          rgb[3 * c] = static_cast<char>(src[3 * c + 2]);
          rgb[3 * c + 1] = static_cast<char>(src[3 * c + 1]);
          rgb[3 * c + 2] = static_cast<char>(src[3 * c]);
        }
        out.write(rgb.data(), static_cast<std::streamsize>(rgb.size()));
      }
      ppm_args += " " + ShellQuote(path);
    }
    ref_ppm_s = 1e300;
    for (int r = 0; r < rounds; ++r) {
      ref_ppm_s = std::min(
          ref_ppm_s, Run(ShellQuote(reference) + " -k" + ppm_args + " >/dev/null 2>&1").first);
    }
    fs::remove_all(tmp);
    rows.push_back({"reference hash stage, PPM input (1 thread)", ref_ppm_s, n, total_bytes});
  }

  std::printf("%-46s %10s %10s %9s\n", "measurement", "ms/image", "images/s", "MB/s");
  for (const Row& r : rows) {
    std::printf("%-46s %10.3f %10.1f %9.1f\n", r.name.c_str(), 1e3 * r.seconds / r.images,
                r.images / r.seconds, r.bytes / 1e6 / r.seconds);
  }
  if (!reference.empty()) {
    std::printf("\nidentical hashes (CLI vs reference): %zu of %zu compared\n", identical,
                compared);
    std::printf("end to end: hashmatch hash CLI is %.2fx the reference (goal >= 2)\n",
                ref_s / cli_s);
    std::printf("hash stage per core: ours is %.2fx the reference on PPM (goal >= 2)\n",
                ref_ppm_s / pdq_s);
  }
  nlohmann::json figures = {{"images", n},
                            {"bytes", total_bytes},
                            {"threads", threads},
                            {"identical", identical},
                            {"compared", compared}};
  for (const auto& row : rows) {
    figures["rows"].push_back({{"name", row.name},
                               {"seconds", row.seconds},
                               {"ms_per_image", 1e3 * row.seconds / static_cast<double>(n)}});
  }
  if (!reference.empty()) {
    figures["cli_speedup"] = ref_s / cli_s;
    figures["stage_speedup"] = ref_ppm_s / pdq_s;
  }
  if (!hashmatch::bench::WriteJson(json_path, figures)) return 2;
  return 0;
}

// bench_video: video hashing speed as multiples of real time, with the decode alone and Meta's
// reference hasher as baselines in the same run.
//
// Makes H.264 test videos at 720p and 1080p with the ffmpeg CLI (the public images in a
// slideshow that pans across each, so every frame differs, plus temporal noise: content an
// encoder cannot reduce to nothing), then per video: decode only (every frame decoded, none
// converted) and our vPDQ hashing at 1 frame per second, each on 1 decoder thread and on all cores;
// and `vpdq-hash-video -r 1` (the reference) on the same file. ×real time = video seconds / wall
// seconds. Also checks our frame hashes equal the reference's. Bit rates: 3 Mbit/s (720p) and
// 6 Mbit/s (1080p), typical of streaming uploads; decoding cost grows with the bit rate.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "engine/describe/describe.h"
#include "engine/sys/sys.h"

namespace hm = hashmatch;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int Shell(const std::string& command) { return std::system(command.c_str()); }

// Wants no frame: what decoding alone costs (with skipping off: decoding every frame).
class DecodeOnly final : public hm::media::VideoSink {
 public:
  absl::Status Start(const hm::media::VideoInfo&) override { return absl::OkStatus(); }
  bool Wants(std::int64_t) override { return false; }
  absl::Status Frame(const hm::media::VideoFrame&) override { return absl::OkStatus(); }
};

struct Row {
  std::string what;
  double seconds;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_video: vPDQ video hashing as multiples of real time (goal: >= 20x for 720p)"};
  double duration = 30;
  int repeats = 3;
  std::string reference = std::string(HM_SHARED_DIR) + "/tools/reference/vpdq-hash-video";
  std::string images = std::string(HM_SHARED_DIR) + "/testdata/pdq/images";
  app.add_option("--seconds", duration, "Length of each test video")->capture_default_str();
  app.add_option("--repeats", repeats, "Runs per measurement (the best is kept)")
      ->capture_default_str();
  app.add_option("--reference", reference, "Meta's vpdq-hash-video ('' to skip)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  char tmpl[] = "/tmp/bench_video.XXXXXX";
  const std::string tmp = mkdtemp(tmpl);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("bench_video: %.0f s videos, 30 fps H.264, %d cores, best of %d\n\n", duration, cores,
              repeats);
  int exit_code = 0;
  // Typical streaming bit rates: what platforms receive, and what decoding cost depends on.
  struct Format {
    const char* name;
    const char* size;
    const char* bitrate;
  };
  for (const auto& [name, size, bitrate] :
       {Format{"720p", "1280:720", "3M"}, Format{"1080p", "1920:1080", "6M"}}) {
    const std::string video = tmp + "/" + name + ".mp4";
    // Slideshow of the public images, 3 s each, panning across each (every frame differs), with
    // temporal noise.
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(images)) {
      if (entry.path().extension() == ".jpg") files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    const int scenes = static_cast<int>(std::ceil(duration / 3));
    std::string inputs, graph, concat;
    for (int i = 0; i < scenes; ++i) {
      absl::StrAppend(&inputs, " -loop 1 -framerate 30 -t 3 -i '", files[i % files.size()], "'");
      absl::StrAppend(&graph, "[", i, "]scale=", size,
                      ":force_original_aspect_ratio=increase,crop=", size,
                      ",crop=w=iw*0.8:h=ih*0.8:x='(iw-ow)*t/3':y='(ih-oh)*t/3',scale=", size,
                      ",setsar=1[v", i, "];");
      absl::StrAppend(&concat, "[v", i, "]");
    }
    const std::string command = absl::StrCat(
        "ffmpeg -v error -y", inputs, " -filter_complex \"", graph, concat, "concat=n=", scenes,
        ":v=1,noise=alls=4:allf=t,format=yuv420p[out]\" -map '[out]' -t ", duration,
        " -c:v libx264 -preset veryfast -b:v ", bitrate, " -maxrate ", bitrate, " -bufsize ",
        bitrate, " ", video);
    if (Shell(command) != 0) {
      std::fprintf(stderr, "bench_video: ffmpeg failed: %s\n", command.c_str());
      return 2;
    }
    std::ifstream in(video, std::ios::binary);
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                          std::istreambuf_iterator<char>());
    std::vector<Row> rows;
    const auto best = [&](const std::function<void()>& run) {
      double fastest = 1e9;
      for (int r = 0; r < repeats; ++r) {
        const auto start = Clock::now();
        run();
        fastest = std::min(fastest, Since(start));
      }
      return fastest;
    };
    std::vector<hm::hash::VpdqFrame> ours, ours_full;
    double decode_all_cores = 0, ours_all_cores = 0;
    for (const int threads : {1, cores}) {
      hm::media::VideoLimits limits;
      limits.decoder_threads = threads;
      limits.skip_unwanted_frames = false;  // the baseline decodes every frame
      const double decode = best([&] {
        DecodeOnly sink;
        if (!hm::media::DecodeVideo(bytes, limits, sink).ok()) exit_code = 1;
      });
      rows.push_back({absl::StrCat("decode every frame, ", threads, " thread(s)"), decode});
      const auto hash = [&](const hm::media::VideoLimits& l,
                            std::vector<hm::hash::VpdqFrame>* out) {
        hm::describe::DescribeOptions options;
        options.video_limits = l;
        hm::describe::Describer describer(options);
        return best([&] {
          absl::StatusOr<hm::describe::Descriptors> d =
              describer.Describe(bytes, hm::describe::MediaKind::kVideo);
          if (!d.ok()) {
            std::fprintf(stderr, "%s\n", std::string(d.status().message()).c_str());
            exit_code = 1;
            return;
          }
          *out = std::get<hm::describe::VideoDescriptors>(*d).frames;
        });
      };
      rows.push_back({absl::StrCat("hashmatch vPDQ 1 fps, full decode, ", threads, " thr"),
                      hash(limits, &ours_full)});
      limits.skip_unwanted_frames = true;
      const double fast = hash(limits, &ours);
      rows.push_back({absl::StrCat("hashmatch vPDQ 1 fps, ", threads, " thread(s)"), fast});
      decode_all_cores = decode;
      ours_all_cores = fast;
    }
    const auto same_frames = [](const std::vector<hm::hash::VpdqFrame>& a,
                                const std::vector<hm::hash::VpdqFrame>& b) {
      return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
        return x.number == y.number && x.pdq.hash.ToHex() == y.pdq.hash.ToHex();
      });
    };
    if (!same_frames(ours, ours_full)) {
      std::fprintf(stderr, "bench_video: skipping unwanted frames changed the frame hashes\n");
      exit_code = 1;
    }
    std::string identical = "not compared";
    if (!reference.empty()) {
      const std::string out = tmp + "/" + name + ".ref.txt";
      rows.push_back({"reference vpdq-hash-video -r 1", best([&] {
                        Shell(absl::StrCat("'", reference, "' -i ", video, " -o ", out,
                                           " -r 1 >/dev/null 2>&1"));
                      })});
      std::ifstream ref(out);
      std::size_t same = 0, total = 0;
      for (std::string line; std::getline(ref, line); ++total) {
        std::stringstream fields(line);
        std::string frame, quality, pdq;
        std::getline(fields, frame, ',');
        std::getline(fields, quality, ',');
        std::getline(fields, pdq, ',');
        if (total < ours.size() && ours[total].pdq.hash.ToHex() == pdq) ++same;
      }
      identical =
          absl::StrCat(same, " of ", total, " reference frames (we hashed ", ours.size(), ")");
    }
    std::printf("%s (%s, H.264 at %sbit/s, %.1f MB)\n", name,
                absl::StrReplaceAll(size, {{":", "x"}}).c_str(), bitrate, bytes.size() / 1e6);
    std::printf("  %-40s %10s %12s\n", "what", "seconds", "x real time");
    for (const Row& r : rows) {
      std::printf("  %-40s %10.3f %12.1f\n", r.what.c_str(), r.seconds, duration / r.seconds);
    }
    std::printf("  identical frame hashes: %s\n", identical.c_str());
    std::printf("  same frames and hashes with and without skipping: %s\n",
                same_frames(ours, ours_full) ? "yes" : "NO");
    std::printf(
        "  all cores: %.1fx real time (goal for 720p: >= 20x); decoding every frame: %.1fx\n\n",
        duration / ours_all_cores, duration / decode_all_cores);
  }
  fs::remove_all(tmp);
  return exit_code;
}

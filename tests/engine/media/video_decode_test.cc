// Skipping unwanted frames (VideoLimits::skip_unwanted_frames) against a full decode, on videos
// made here with the ffmpeg CLI: the same frames are sampled, with the same pixels, whatever the
// container; and the fast path holds on ordinary B-frame H.264 (no second decode).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "engine/media/media.h"
#include "tests/engine/hash/test_images.h"

namespace hashmatch::media {
namespace {

// Keeps the number and a checksum of every wanted frame, and counts (re)starts.
class RecordingSink final : public VideoSink {
 public:
  absl::Status Start(const VideoInfo&) override {
    ++starts;
    frames.clear();
    return absl::OkStatus();
  }
  bool Wants(std::int64_t number) override { return number % 10 == 0; }
  absl::Status Frame(const VideoFrame& f) override {
    std::uint64_t sum = 1469598103934665603ULL;  // FNV-1a over the RGB bytes
    for (const std::uint8_t b : f.rgb) sum = (sum ^ b) * 1099511628211ULL;
    frames.emplace_back(f.number, sum);
    return absl::OkStatus();
  }

  int starts = 0;
  std::vector<std::pair<std::int64_t, std::uint64_t>> frames;
};

struct Decoded {
  int starts = 0;
  std::vector<std::pair<std::int64_t, std::uint64_t>> frames;
  std::int64_t count = 0;
};

Decoded Decode(const std::vector<std::uint8_t>& bytes, bool skip) {
  VideoLimits limits;
  limits.skip_unwanted_frames = skip;
  RecordingSink sink;
  const absl::StatusOr<std::int64_t> count = DecodeVideo(bytes, limits, sink);
  INFO(count.status().message());
  REQUIRE(count.ok());
  return {sink.starts, sink.frames, *count};
}

TEST_CASE("skipping unwanted frames samples the same frames as a full decode", "[media][video]") {
  const std::string dir =
      std::filesystem::temp_directory_path() / ("hm_video_decode_test." + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  // B-pyramid H.264 (x264's default 3 B-frames), 250 frames: half of them non-reference.
  const std::string source = dir + "/source.mp4";
  REQUIRE(std::system(("ffmpeg -v error -y -f lavfi -i testsrc2=size=320x240:rate=25 -t 10 "
                       "-pix_fmt yuv420p -c:v libx264 -bf 3 '" +
                       source + "'")
                          .c_str()) == 0);
  struct Case {
    const char* file;
    const char* args;
    int skip_starts;  // 1: the fast path held; 2: it was given up and the video decoded again
  };
  for (const Case& c : {Case{"b.mp4", "-c copy", 1}, Case{"b.mkv", "-c copy", 1},
                        Case{"b.ts", "-c copy", 1}, Case{"b.flv", "-c copy", 1},
                        // AVI keeps no presentation timestamps: nothing to number frames by.
                        Case{"b.avi", "-c copy", 2},
                        // HEVC: its decoder skips non-reference pictures the same way.
                        Case{"hevc.mp4", "-c:v libx265 -x265-params log-level=none", 1}}) {
    INFO(c.file);
    const std::string path = dir + "/" + c.file;
    REQUIRE(std::system(
                ("ffmpeg -v error -y -i '" + source + "' " + c.args + " '" + path + "'").c_str()) ==
            0);
    const std::vector<std::uint8_t> bytes = testing::ReadBytes(path);
    const Decoded full = Decode(bytes, false);
    const Decoded fast = Decode(bytes, true);
    CHECK(full.starts == 1);
    CHECK(fast.starts == c.skip_starts);
    REQUIRE(full.frames.size() == 25);
    CHECK(fast.frames == full.frames);
    CHECK(fast.count == full.count);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace hashmatch::media

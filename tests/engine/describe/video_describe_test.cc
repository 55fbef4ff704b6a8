// vPDQ from memory against Meta's reference output for the shared videos (testdata/pdq/vpdq,
// made with vpdq-hash-video on Debian 12's FFmpeg 5.1): same sampled frames, same timestamps,
// hashes within distance 10 (the bar is 90 %; we report how many are identical).
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/describe/describe.h"
#include "tests/engine/hash/test_images.h"

namespace hashmatch::describe {
namespace {

// Describe as a video: the frames and digests, or why not.
absl::StatusOr<VideoDescriptors> DescribeVideo(std::span<const std::uint8_t> bytes,
                                               double seconds_per_hash = 1,
                                               media::VideoLimits limits = {}) {
  DescribeOptions options;
  options.seconds_per_hash = seconds_per_hash;
  options.video_limits = limits;
  Describer describer(options);
  HM_ASSIGN_OR_RETURN(Descriptors d, describer.Describe(bytes, MediaKind::kVideo));
  return std::get<VideoDescriptors>(std::move(d));
}

struct ReferenceFrame {
  std::int64_t number;
  int quality;
  std::string pdq_hex;
  std::string timestamp;
};

// Lines "frame,quality,hash,timestamp".
std::vector<ReferenceFrame> ReadReference(const std::string& path) {
  std::vector<ReferenceFrame> frames;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string number, quality, hex, timestamp;
    std::getline(row, number, ',');
    std::getline(row, quality, ',');
    std::getline(row, hex, ',');
    std::getline(row, timestamp, ',');
    frames.push_back({std::stoll(number), std::stoi(quality), hex, timestamp});
  }
  return frames;
}

TEST_CASE("vPDQ of the shared videos matches Meta's reference frame for frame",
          "[describe][video]") {
  const char* videos[] = {"v1-slideshow-320x240-25fps", "v2-clip-of-v1-plus-extra-240x180-30fps",
                          "v3-unrelated-slideshow-320x240-30fps", "v4-zoom-pan-320x240-25fps"};
  for (const char* name : videos) {
    for (const auto& [suffix, seconds] : {std::pair{".1s.txt", 1.0}, {".every-frame.txt", 0.0}}) {
      INFO(name << suffix);
      const std::vector<ReferenceFrame> reference =
          ReadReference(testing::TestdataPath(std::string("pdq/vpdq/") + name + suffix));
      REQUIRE_FALSE(reference.empty());
      const std::vector<std::uint8_t> bytes =
          testing::ReadBytes(testing::TestdataPath(std::string("pdq/videos/") + name + ".mp4"));
      const absl::StatusOr<VideoDescriptors> ours = DescribeVideo(bytes, seconds);
      REQUIRE(ours.ok());
      REQUIRE(ours->frames.size() == reference.size());
      std::size_t identical = 0, close = 0;
      for (std::size_t i = 0; i < reference.size(); ++i) {
        const hash::VpdqFrame& f = ours->frames[i];
        CHECK(f.number == reference[i].number);
        char timestamp[32];
        std::snprintf(timestamp, sizeof timestamp, "%.3f", f.timestamp_seconds);
        CHECK(timestamp == reference[i].timestamp);
        const Pdq256 want = *ParseHex<Pdq256>(reference[i].pdq_hex);
        const int distance = HammingDistance(f.pdq.hash, want);
        identical += distance == 0 && f.pdq.quality == reference[i].quality ? 1 : 0;
        close += distance <= 10 ? 1 : 0;
      }
      CHECK(close * 10 >= reference.size() * 9);
      // On the FFmpeg the reference was made with (Debian 12's 5.1), every frame is identical.
      CHECK(identical == reference.size());
    }
  }
}

TEST_CASE("broken videos are refused with the reason", "[describe][video]") {
  const std::vector<std::uint8_t> good =
      testing::ReadBytes(testing::TestdataPath("pdq/videos/v1-slideshow-320x240-25fps.mp4"));
  REQUIRE(good.size() > 1000);
  const auto message = [&](std::vector<std::uint8_t> bytes) {
    const absl::StatusOr<VideoDescriptors> d = DescribeVideo(bytes);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
    return std::string(d.status().message());
  };
  CHECK_THAT(message({}), Catch::Contains("empty input"));
  CHECK_THAT(message({'G', 'I', 'F', '8', '9', 'a', 0, 0}), Catch::Contains("not a supported"));
  // The header survives, the frames do not: a clear error, not a crash or an empty success.
  std::vector<std::uint8_t> truncated(good.begin(), good.begin() + 600);
  CHECK_THAT(message(truncated), Catch::Contains("video:"));
  std::vector<std::uint8_t> corrupt = good;
  for (std::size_t i = 64; i < corrupt.size(); i += 7) corrupt[i] ^= 0x5a;
  CHECK_THAT(message(corrupt), Catch::Contains("video:"));

  media::VideoLimits small;
  small.max_side = 100;
  const absl::StatusOr<VideoDescriptors> big = DescribeVideo(good, 1, small);
  REQUIRE_FALSE(big.ok());
  CHECK_THAT(std::string(big.status().message()),
             Catch::Contains("320x240 exceeds the side limit of 100"));
}

}  // namespace
}  // namespace hashmatch::describe

// engine/describe: one entry point sniffs images and videos and gives the same descriptors as
// the modules below it (media decode + hash), in the fixed order Values promises.
#include "engine/describe/describe.h"

#include <catch2/catch.hpp>

#include "tests/engine/hash/test_images.h"

namespace hashmatch::describe {
namespace {

const std::string kImage = "pdq/images/p02-mate-blinds.jpg";
const std::string kVideo = "pdq/videos/v1-slideshow-320x240-25fps.mp4";

TEST_CASE("an image is described as the modules below would hash it", "[describe]") {
  const std::vector<std::uint8_t> bytes = testing::ReadBytes(testing::TestdataPath(kImage));
  Describer describer;
  const absl::StatusOr<Descriptors> d = describer.Describe(bytes);
  REQUIRE(d.ok());
  REQUIRE(std::holds_alternative<ImageDescriptors>(*d));
  const auto& image = std::get<ImageDescriptors>(*d);

  const absl::StatusOr<media::Image> decoded = media::DecodeImage(bytes);
  REQUIRE(decoded.ok());
  hash::PdqHasher hasher;
  const absl::StatusOr<hash::PdqHash> pdq = hasher.Hash(testing::View(*decoded));
  REQUIRE(pdq.ok());
  CHECK(image.pdq.hash == pdq->hash);
  CHECK(image.pdq.quality == pdq->quality);
  CHECK(image.width == decoded->width());
  CHECK(image.digests.sha256 == hash::ComputeDigests(bytes)->sha256);
  CHECK_FALSE(image.dihedral.has_value());

  const std::vector<DescriptorValue> values = Values(*d);
  REQUIRE(values.size() == 4);
  CHECK(values[0].signal == Signal::kPdq);
  CHECK(values[0].value == std::string(pdq->hash.AsChars()));
  CHECK(values[0].quality == pdq->quality);
  CHECK(values[1].signal == Signal::kMd5);
  CHECK(values[2].signal == Signal::kSha1);
  CHECK(values[3].signal == Signal::kSha256);
  CHECK(values[3].value == std::string(image.digests.sha256.AsChars()));
  CHECK(values[3].quality == -1);
}

TEST_CASE("with dihedral, the original is the first of the eight", "[describe]") {
  const std::vector<std::uint8_t> bytes = testing::ReadBytes(testing::TestdataPath(kImage));
  DescribeOptions options;
  options.dihedral = true;
  Describer describer(options);
  const absl::StatusOr<Descriptors> d = describer.Describe(bytes);
  REQUIRE(d.ok());
  const auto& image = std::get<ImageDescriptors>(*d);
  REQUIRE(image.dihedral.has_value());
  CHECK(image.dihedral->hashes[0] == image.pdq.hash);
  CHECK(image.dihedral->hashes[1] != image.pdq.hash);
}

TEST_CASE("a video is sniffed from its bytes and described as one VPDQ value", "[describe]") {
  const std::vector<std::uint8_t> bytes = testing::ReadBytes(testing::TestdataPath(kVideo));
  CHECK(LooksLikeVideo(bytes));
  Describer describer;
  const absl::StatusOr<Descriptors> d = describer.Describe(bytes);
  REQUIRE(d.ok());
  REQUIRE(std::holds_alternative<VideoDescriptors>(*d));
  const auto& video = std::get<VideoDescriptors>(*d);
  REQUIRE_FALSE(video.frames.empty());
  const std::vector<DescriptorValue> values = Values(*d);
  REQUIRE(values.size() == 4);
  CHECK(values[0].signal == Signal::kVpdq);
  const absl::StatusOr<std::vector<VpdqFeature>> frames = DecodeVpdq(values[0].value);
  REQUIRE(frames.ok());
  REQUIRE(frames->size() == video.frames.size());
  CHECK((*frames)[1].timestamp_ms == 1000);  // one frame a second
  CHECK((*frames)[1].pdq == video.frames[1].pdq.hash);
  CHECK(values[1].signal == Signal::kMd5);
}

TEST_CASE("a caller that wants one kind gets a clear error for the other", "[describe]") {
  const std::vector<std::uint8_t> image = testing::ReadBytes(testing::TestdataPath(kImage));
  const std::vector<std::uint8_t> video = testing::ReadBytes(testing::TestdataPath(kVideo));
  Describer describer;
  const absl::StatusOr<Descriptors> as_image = describer.Describe(video, MediaKind::kImage);
  CHECK(as_image.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(as_image.status().message()),
             Catch::Contains("image: the bytes are a video, not an image"));
  const absl::StatusOr<Descriptors> as_video = describer.Describe(image, MediaKind::kVideo);
  CHECK(as_video.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(as_video.status().message()),
             Catch::Contains("video: the bytes are an image, not a video"));
  const std::vector<std::uint8_t> junk = {'h', 'e', 'l', 'l', 'o'};
  CHECK(describer.Describe(junk).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("DescribeFile refuses a file over the larger byte limit before reading", "[describe]") {
  DescribeOptions options;
  options.image_limits.max_bytes = 1000;
  options.video_limits.max_bytes = 2000;
  Describer describer(options);
  const absl::StatusOr<Descriptors> d = describer.DescribeFile(testing::TestdataPath(kVideo));
  CHECK(d.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(d.status().message()), Catch::Contains("over the limit of 2000 bytes"));
}

}  // namespace
}  // namespace hashmatch::describe

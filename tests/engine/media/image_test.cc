#include <catch2/catch.hpp>
#include <chrono>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "engine/media/media.h"
#include "tests/engine/hash/test_images.h"

namespace hashmatch::media {
namespace {

using testing::ReadBytes;
using testing::TestdataPath;

cv::Mat Pattern(int rows, int cols) {
  cv::Mat m(rows, cols, CV_8UC3);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) m.at<cv::Vec3b>(y, x) = cv::Vec3b(x * 3, y * 5, (x ^ y) & 0xFF);
  }
  return m;
}

std::vector<std::uint8_t> Encode(const std::string& ext, const cv::Mat& m) {
  std::vector<std::uint8_t> out;
  REQUIRE(cv::imencode(ext, m, out));
  return out;
}

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST_CASE("each whitelisted format is probed and decoded with its dimensions", "[media]") {
  const cv::Mat m = Pattern(37, 53);
  for (const auto& [ext, format, lossless] : {std::tuple{".jpg", ImageFormat::kJpeg, false},
                                              {".png", ImageFormat::kPng, true},
                                              {".webp", ImageFormat::kWebp, false},
                                              {".bmp", ImageFormat::kBmp, true},
                                              {".tiff", ImageFormat::kTiff, true}}) {
    INFO(ext);
    const auto bytes = Encode(ext, m);
    const auto info = ProbeImage(bytes);
    REQUIRE(info.ok());
    CHECK(info->format == format);
    CHECK(info->width == 53);
    CHECK(info->height == 37);
    const auto image = DecodeImage(bytes);
    REQUIRE(image.ok());
    CHECK(image->width() == 53);
    CHECK(image->height() == 37);
    if (lossless) {
      const cv::Mat decoded(37, 53, CV_8UC3, const_cast<std::uint8_t*>(image->bgr().data()),
                            image->row_stride());
      CHECK(cv::norm(decoded, m, cv::NORM_INF) == 0);
    }
  }
  // Lossless WebP has its own header (VP8L).
  std::vector<std::uint8_t> vp8l;
  REQUIRE(cv::imencode(".webp", m, vp8l, {cv::IMWRITE_WEBP_QUALITY, 101}));
  CHECK(ProbeImage(vp8l)->width == 53);
}

TEST_CASE("empty, unknown and non-whitelisted inputs are refused before decoding", "[media]") {
  CHECK(Message(DecodeImage({}).status()) == "image is empty (0 bytes)");
  const std::vector<std::uint8_t> text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  CHECK(Message(DecodeImage(text).status()).find("not a supported image") != std::string::npos);
  const std::vector<std::uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0};
  CHECK(Message(DecodeImage(gif).status()) == "GIF images are not supported");
  // 128 bytes then "DICM": GDCM, linked into Debian's imgcodecs, aborts on this. It must never
  // reach imdecode.
  std::vector<std::uint8_t> dicom(128, 0);
  dicom.insert(dicom.end(), {'D', 'I', 'C', 'M', 0, 0, 0, 0});
  CHECK(DecodeImage(dicom).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("truncated JPEG and PNG are refused, not half-decoded", "[media]") {
  const auto jpeg = ReadBytes(TestdataPath("pdq/images/p01-mate-aqua.jpg"));
  REQUIRE(jpeg.size() > 1000);
  const std::vector<std::uint8_t> half_jpeg(jpeg.begin(), jpeg.begin() + jpeg.size() / 2);
  CHECK(Message(DecodeImage(half_jpeg).status()).find("truncated") != std::string::npos);
  const std::vector<std::uint8_t> header_only(jpeg.begin(), jpeg.begin() + 40);
  CHECK(!DecodeImage(header_only).ok());

  const auto png = Encode(".png", Pattern(64, 64));
  const std::vector<std::uint8_t> half_png(png.begin(), png.begin() + png.size() / 2);
  CHECK(Message(DecodeImage(half_png).status()).find("truncated") != std::string::npos);

  const auto bmp = Encode(".bmp", Pattern(64, 64));
  const std::vector<std::uint8_t> half_bmp(bmp.begin(), bmp.begin() + bmp.size() / 2);
  CHECK(!DecodeImage(half_bmp).ok());
}

// A PNG whose header claims width x height, with a tiny (invalid) body.
std::vector<std::uint8_t> PngHeader(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n',
                                 0,    0,   0,   13,  'I',  'H',  'D',  'R'};
  for (std::uint32_t v : {width, height}) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<std::uint8_t>(v >> s));
  }
  b.insert(b.end(), {8, 2, 0, 0, 0, 0, 0, 0, 0});                   // depth, colour, ..., CRC
  b.insert(b.end(), {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0, 0, 0, 0});  // IEND
  return b;
}

TEST_CASE("a decompression bomb is refused from its header, without allocating", "[media]") {
  const auto start = std::chrono::steady_clock::now();
  const auto bomb = DecodeImage(PngHeader(50000, 50000));
  REQUIRE(bomb.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Message(bomb.status()) == "PNG image is 50000x50000, over the side limit of 32768 pixels");
  const auto wide = DecodeImage(PngHeader(30000, 20000));
  CHECK(Message(wide.status()) ==
        "PNG image is 30000x20000 = 600000000 pixels, over the limit of 100000000");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("limits are configurable and named in the error", "[media]") {
  const auto png = Encode(".png", Pattern(40, 60));
  ImageLimits small;
  small.max_bytes = 100;
  CHECK(Message(DecodeImage(png, small).status()).find("over the limit of 100 bytes") !=
        std::string::npos);
  ImageLimits narrow;
  narrow.max_side = 50;
  CHECK(Message(DecodeImage(png, narrow).status()).find("side limit of 50") != std::string::npos);
  ImageLimits few;
  few.max_pixels = 2399;
  CHECK(Message(DecodeImage(png, few).status()).find("2400 pixels") != std::string::npos);
  few.max_pixels = 2400;
  CHECK(DecodeImage(png, few).ok());
}

TEST_CASE("EXIF orientation is ignored and alpha dropped, as the reference does", "[media]") {
  const auto rotated =
      DecodeImage(ReadBytes(TestdataPath("pdq/edge/e20-exif-orientation-6-unrotated.jpg")));
  const auto plain = DecodeImage(
      ReadBytes(TestdataPath("pdq/images/p23-lomiri16-bridge-by-sander-klootwijk.jpg")));
  REQUIRE(rotated.ok());
  REQUIRE(plain.ok());
  CHECK(rotated->width() == plain->width());
  CHECK(rotated->height() == plain->height());
  const auto rgba = DecodeImage(ReadBytes(TestdataPath("pdq/edge/e10-rgba-200x200.png")));
  REQUIRE(rgba.ok());
  CHECK(rgba->channels() == 3);
}

TEST_CASE("every public test image decodes to its header's size", "[media]") {
  int count = 0;
  for (const char* name : {"p01-mate-aqua.jpg", "p06-mate-greenmeadow.jpg",
                           "p31-lomiri16-friends-by-aitzol-berasategi.jpg"}) {
    const auto bytes = ReadBytes(TestdataPath(std::string("pdq/images/") + name));
    const auto info = ProbeImage(bytes);
    const auto image = DecodeImage(bytes);
    REQUIRE(info.ok());
    REQUIRE(image.ok());
    CHECK(image->width() == info->width);
    CHECK(image->height() == info->height);
    ++count;
  }
  CHECK(count == 3);
}

TEST_CASE("a TIFF without dimensions is refused", "[media]") {
  const std::vector<std::uint8_t> tiff = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0};
  CHECK(Message(DecodeImage(tiff).status()).find("ImageWidth") != std::string::npos);
}

}  // namespace
}  // namespace hashmatch::media

namespace hashmatch::media {
namespace {

TEST_CASE("mutated images give a status or an image, never a crash", "[media][mutation]") {
  // Deterministic: the same 3000 mutants every run. Formats and their probes get flipped bytes,
  // cut tails and patched header fields.
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  const cv::Mat m = Pattern(48, 40);
  for (const char* ext : {".jpg", ".png", ".webp", ".bmp", ".tiff"}) {
    INFO(ext);
    int decoded = 0, refused = 0, cut_decoded = 0;
    const auto original = Encode(ext, m);
    for (int i = 0; i < 600; ++i) {
      std::vector<std::uint8_t> mutant = original;
      const int flips = 1 + static_cast<int>(next() % 8);
      for (int f = 0; f < flips; ++f)
        mutant[next() % mutant.size()] = static_cast<std::uint8_t>(next());
      const bool cut = next() % 4 == 0;
      // Cut to at most half: the image data is gone, whatever the header says.
      if (cut) mutant.resize(next() % (mutant.size() / 2));
      const auto image = DecodeImage(mutant);
      if (image.ok()) {
        ++decoded;
        cut_decoded += cut ? 1 : 0;
        CHECK(static_cast<std::uint64_t>(image->width()) * image->height() <= 100'000'000);
        CHECK(image->bgr().size() >= image->row_stride() * (image->height() - 1));
      } else {
        ++refused;
        CHECK(image.status().code() == absl::StatusCode::kInvalidArgument);
        CHECK(!image.status().message().empty());
      }
    }
    std::printf("mutants %s: %d decoded, %d refused\n", ext, decoded, refused);
    // Both paths are exercised for every format, and a file cut to half its size is never
    // passed off as an image.
    CHECK(refused > 0);
    CHECK(decoded > 0);
    CHECK(cut_decoded == 0);
  }
}

}  // namespace
}  // namespace hashmatch::media

// PdqHasher behaviour on synthetic pixels: validation, channel layouts, the photo pre-steps.
#include <catch2/catch.hpp>
#include <cmath>

#include "tests/engine/hash/test_images.h"

namespace hashmatch::hash {
namespace {

// A deterministic colour image with structure at several scales (not flat, not noise).
struct Synthetic {
  int rows, cols, channels;
  std::size_t stride;
  std::vector<std::uint8_t> data;

  // `stripes` adds a 3-pixel colour pattern (fine detail); without it the image is smooth.
  Synthetic(int r, int c, int ch = 3, std::size_t pad = 0, bool stripes = true)
      : rows(r), cols(c), channels(ch), stride(static_cast<std::size_t>(c) * ch + pad) {
    data.assign(stride * r, 0xEE);  // padding bytes must never be read
    for (int y = 0; y < r; ++y) {
      for (int x = 0; x < c; ++x) {
        std::uint8_t* px = &data[y * stride + x * ch];
        const double u = static_cast<double>(x) / c, v = static_cast<double>(y) / r;
        const int base = static_cast<int>(127 + 60 * std::sin(9 * u) * std::cos(7 * v) +
                                          40 * std::sin(31 * u * v));
        for (int k = 0; k < ch; ++k)
          px[k] = static_cast<std::uint8_t>(base + (stripes ? 23 * k * (x % 3) : 9 * k));
        if (ch == 4) px[3] = static_cast<std::uint8_t>(x * 17);  // alpha: must be ignored
      }
    }
  }
  PixelView View(ChannelOrder order = ChannelOrder::kBgr) const {
    return {data, rows, cols, channels, stride, order};
  }
};

TEST_CASE("images under 5 px on a side are refused, not hashed to zero", "[pdq]") {
  PdqHasher hasher;
  for (const auto& [r, c] : {std::pair{4, 100}, {100, 4}, {1, 1}}) {
    const Synthetic img(r, c);
    const auto result = hasher.Hash(img.View());
    REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(result.status().message()).find("at least 5 on each side") !=
          std::string::npos);
    CHECK(hasher.HashDihedral(img.View()).status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(hasher.Hash(Synthetic(5, 5).View()).ok());
}

TEST_CASE("bad pixel buffers are refused with the reason", "[pdq]") {
  PdqHasher hasher;
  Synthetic img(40, 30);
  PixelView two_channels = img.View();
  two_channels.channels = 2;
  CHECK(std::string(hasher.Hash(two_channels).status().message()).find("2 channels") !=
        std::string::npos);

  PixelView short_buffer = img.View();
  short_buffer.data = short_buffer.data.first(short_buffer.data.size() - 1);
  CHECK(std::string(hasher.Hash(short_buffer).status().message()).find("buffer holds") !=
        std::string::npos);

  PixelView short_stride = img.View();
  short_stride.row_stride = 10;
  CHECK(std::string(hasher.Hash(short_stride).status().message()).find("row stride") !=
        std::string::npos);
}

TEST_CASE("channel order, alpha and row padding do not change the hash", "[pdq]") {
  PdqHasher hasher;
  const Synthetic bgr(300, 200, 3);
  const auto expected = hasher.Hash(bgr.View());
  REQUIRE(expected.ok());
  CHECK(expected->quality > 50);

  Synthetic rgb = bgr;  // swap R and B, then say so
  for (std::size_t i = 0; i + 2 < rgb.data.size(); i += 3) std::swap(rgb.data[i], rgb.data[i + 2]);
  CHECK(hasher.Hash(rgb.View(ChannelOrder::kRgb))->hash == expected->hash);

  const Synthetic padded(300, 200, 3, 13);
  CHECK(hasher.Hash(padded.View())->hash == expected->hash);

  const Synthetic bgra(300, 200, 4);
  Synthetic bgra_other_alpha = bgra;
  for (std::size_t i = 3; i < bgra_other_alpha.data.size(); i += 4) bgra_other_alpha.data[i] = 0;
  CHECK(hasher.Hash(bgra.View())->hash == hasher.Hash(bgra_other_alpha.View())->hash);
}

TEST_CASE("grey pixels hash the same as 1 or 3 channels (the reference's grey rule)", "[pdq]") {
  PdqHasher hasher;
  const Synthetic grey(120, 90, 1);
  Synthetic grey3(120, 90, 3);
  for (int i = 0; i < 120 * 90; ++i) {
    for (int k = 0; k < 3; ++k) grey3.data[3 * i + k] = grey.data[i];
  }
  CHECK(hasher.Hash(grey.View())->hash == hasher.Hash(grey3.View())->hash);
}

TEST_CASE("the 512x512 pre-resize is an explicit nearest-neighbour step", "[pdq]") {
  // Hashing a 700x600 image with the photo pre-resize equals hashing the 512x512 image obtained by
  // picking source pixel floor(x * W / 512) with the pre-resize turned off.
  const Synthetic large(600, 700);
  Synthetic resized(512, 512);
  for (int y = 0; y < 512; ++y) {
    for (int x = 0; x < 512; ++x) {
      const int sy = static_cast<int>(y * 600.0 / 512), sx = static_cast<int>(x * 700.0 / 512);
      for (int k = 0; k < 3; ++k) {
        resized.data[y * resized.stride + 3 * x + k] = large.data[sy * large.stride + 3 * sx + k];
      }
    }
  }
  PdqHasher photo;
  PdqHasher plain(PdqOptions{.resize_large_to_512 = false, .grey_when_all_channels_equal = true});
  const auto a = photo.Hash(large.View());
  const auto b = plain.Hash(resized.View());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->hash == b->hash);
  CHECK(a->quality == b->quality);
  // Without the pre-resize the full image is filtered directly: a close but different hash.
  const auto c = plain.Hash(large.View());
  REQUIRE(c.ok());
  CHECK(HammingDistance(a->hash, c->hash) < 40);
}

TEST_CASE("dihedral hashes track real rotations and mirrors of the pixels", "[pdq]") {
  // A lossless photo, turned and mirrored exactly in memory.
  const auto bytes =
      testing::ReadBytes(testing::TestdataPath("pdq/edge/e11-lossless-photo-509x400.png"));
  const auto image = media::DecodeImage(bytes);
  REQUIRE(image.ok());
  const int rows = image->height(), cols = image->width();
  const PixelView src = testing::View(*image);
  std::vector<std::uint8_t> cw(static_cast<std::size_t>(rows) * cols * 3);
  std::vector<std::uint8_t> mirror(cw.size());
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      for (int k = 0; k < 3; ++k) {
        const std::uint8_t v = src.data[y * src.row_stride + 3 * x + k];
        cw[(static_cast<std::size_t>(x) * rows + (rows - 1 - y)) * 3 + k] = v;  // 90 deg clockwise
        mirror[(static_cast<std::size_t>(y) * cols + (cols - 1 - x)) * 3 + k] = v;  // left-right
      }
    }
  }
  PdqHasher hasher;
  const auto dihedral = hasher.HashDihedral(src);
  REQUIRE(dihedral.ok());
  const Pdq256 rotated =
      hasher.Hash({cw, cols, rows, 3, static_cast<std::size_t>(rows) * 3, ChannelOrder::kBgr})
          ->hash;
  const Pdq256 mirrored =
      hasher.Hash({mirror, rows, cols, 3, static_cast<std::size_t>(cols) * 3, ChannelOrder::kBgr})
          ->hash;
  const auto& h = dihedral->hashes;
  CHECK(HammingDistance(rotated, h[static_cast<int>(Dihedral::kRotate270)]) <= 16);
  CHECK(HammingDistance(mirrored, h[static_cast<int>(Dihedral::kFlipY)]) <= 16);
  CHECK(HammingDistance(rotated, h[0]) > 64);
  CHECK(HammingDistance(mirrored, h[0]) > 64);
}

TEST_CASE("a flat image hashes with quality 0", "[pdq]") {
  std::vector<std::uint8_t> flat(64 * 80 * 3, 128);
  PdqHasher hasher;
  const auto result = hasher.Hash({flat, 64, 80, 3, 80 * 3, ChannelOrder::kBgr});
  REQUIRE(result.ok());
  CHECK(result->quality == 0);
}

}  // namespace
}  // namespace hashmatch::hash

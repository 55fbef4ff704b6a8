// engine/describe FindContent: the border detector on synthetic images, and the trimmed hash of a
// bordered copy of a public image against its original.
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "engine/describe/describe.h"
#include "tests/engine/hash/test_images.h"

namespace hashmatch::describe {
namespace {

// A BGR image: random texture (the "content") everywhere, then bands painted over it.
struct Canvas {
  int rows, cols;
  std::vector<std::uint8_t> bgr;
  Canvas(int r, int c, std::uint64_t seed = 1) : rows(r), cols(c), bgr(3 * r * c) {
    std::mt19937_64 rng(seed);
    for (auto& v : bgr) v = static_cast<std::uint8_t>(rng());
  }
  void Fill(int y0, int y1, int x0, int x1, std::array<int, 3> colour, int noise = 0,
            std::uint64_t seed = 7) {
    std::mt19937_64 rng(seed);
    for (int y = y0; y < y1; ++y) {
      for (int x = x0; x < x1; ++x) {
        for (int k = 0; k < 3; ++k) {
          const int jitter = noise ? static_cast<int>(rng() % (2 * noise + 1)) - noise : 0;
          bgr[3 * (y * cols + x) + k] =
              static_cast<std::uint8_t>(std::clamp(colour[k] + jitter, 0, 255));
        }
      }
    }
  }
  hash::PixelView View() const {
    return {bgr, rows, cols, 3, static_cast<std::size_t>(3 * cols), hash::ChannelOrder::kBgr};
  }
};

void CheckBox(const BorderResult& r, int x, int y, int w, int h) {
  CHECK(r.kind == BorderResult::Kind::kTrimmed);
  CHECK(r.box.x == x);
  CHECK(r.box.y == y);
  CHECK(r.box.width == w);
  CHECK(r.box.height == h);
}

TEST_CASE("borders of every colour are found, also uneven ones", "[describe][borders]") {
  for (const std::array<int, 3> colour : {std::array{0, 0, 0}, std::array{255, 255, 255},
                                          std::array{128, 128, 128}, std::array{30, 200, 90}}) {
    INFO(colour[0] << "," << colour[1] << "," << colour[2]);
    Canvas c(300, 400);
    c.Fill(0, 300, 0, 400, colour);
    c = [&] {
      Canvas inner(300, 400, 3);
      inner.Fill(0, 12, 0, 400, colour);     // top 12
      inner.Fill(280, 300, 0, 400, colour);  // bottom 20
      inner.Fill(0, 300, 0, 5, colour);      // left 5
      inner.Fill(0, 300, 363, 400, colour);  // right 37
      return inner;
    }();
    CheckBox(FindContent(c.View()), 5, 12, 358, 268);
  }
}

TEST_CASE("letterbox bars, a caption band and a frame of two colours", "[describe][borders]") {
  Canvas letterbox(360, 640);
  letterbox.Fill(0, 45, 0, 640, {0, 0, 0});
  letterbox.Fill(315, 360, 0, 640, {0, 0, 0});
  CheckBox(FindContent(letterbox.View()), 0, 45, 640, 270);

  Canvas caption(300, 300);
  caption.Fill(240, 300, 0, 300, {255, 255, 255});  // a blank caption band at the bottom
  CheckBox(FindContent(caption.View()), 0, 0, 300, 240);

  // An outer red frame of 10 px around an inner white mat of 15 px, around the content.
  Canvas inside(300, 300, 5);
  const auto ring = [&](int from, int to, std::array<int, 3> colour) {
    inside.Fill(from, to, from, 300 - from, colour);              // top
    inside.Fill(300 - to, 300 - from, from, 300 - from, colour);  // bottom
    inside.Fill(from, 300 - from, from, to, colour);              // left
    inside.Fill(from, 300 - from, 300 - to, 300 - from, colour);  // right
  };
  ring(0, 10, {30, 30, 200});
  ring(10, 25, {250, 250, 250});
  CheckBox(FindContent(inside.View()), 25, 25, 250, 250);
}

TEST_CASE("no border, a textured margin, and JPEG-like noise on a bar", "[describe][borders]") {
  const Canvas plain(200, 200);
  CHECK(FindContent(plain.View()).kind == BorderResult::Kind::kNone);

  // A margin of strong texture is content, not border.
  Canvas textured(200, 200);
  textured.Fill(0, 20, 0, 200, {128, 128, 128}, 60);
  CHECK(FindContent(textured.View()).kind == BorderResult::Kind::kNone);

  // A near-uniform bar (noise of +-8, as JPEG leaves on a flat colour) is a border.
  Canvas noisy(200, 200);
  noisy.Fill(0, 20, 0, 200, {10, 10, 10}, 8);
  CheckBox(FindContent(noisy.View()), 0, 20, 200, 180);

  // A one-line rule is not a border (min_border).
  Canvas rule(200, 200);
  rule.Fill(0, 1, 0, 200, {0, 0, 0});
  CHECK(FindContent(rule.View()).kind == BorderResult::Kind::kNone);
}

TEST_CASE("an image that is all border has no content", "[describe][borders]") {
  Canvas flat(200, 300);
  flat.Fill(0, 200, 0, 300, {90, 90, 90});
  CHECK(FindContent(flat.View()).kind == BorderResult::Kind::kAllBorder);
  Canvas tiny(200, 300, 9);
  tiny.Fill(0, 200, 0, 300, {0, 0, 0});
  tiny.Fill(90, 110, 140, 160, {255, 0, 0});  // 20x20 of content: under min_content_side
  CHECK(FindContent(tiny.View()).kind == BorderResult::Kind::kAllBorder);
}

TEST_CASE("the trimmed hash of a bordered public image is the original's", "[describe][borders]") {
  // variants/*__border_20px_black.jpg: ImageMagick -border 20 (black) then JPEG q80.
  const auto original = testing::ReadBytes(testing::TestdataPath("pdq/images/p01-mate-aqua.jpg"));
  const auto bordered = testing::ReadBytes(
      testing::TestdataPath("pdq/variants/p01-mate-aqua__border_20px_black.jpg"));
  DescribeOptions options;
  options.trim_borders = true;
  Describer describer(options);
  const auto a = describer.Describe(original);
  const auto b = describer.Describe(bordered);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const auto& plain = std::get<ImageDescriptors>(*a);
  const auto& framed = std::get<ImageDescriptors>(*b);
  CHECK_FALSE(plain.trimmed.has_value());
  REQUIRE(framed.trimmed.has_value());
  CHECK(framed.trimmed->box.x == 20);
  CHECK(framed.trimmed->box.y == 20);
  CHECK(framed.trimmed->box.width == plain.width);
  CHECK(framed.trimmed->box.height == plain.height);
  CHECK(HammingDistance(framed.pdq.hash, plain.pdq.hash) > 31);  // plain PDQ misses it
  CHECK(HammingDistance(framed.trimmed->pdq.hash, plain.pdq.hash) <= 10);
}

}  // namespace
}  // namespace hashmatch::describe

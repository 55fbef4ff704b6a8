// Border detection (describe.h, FindContent): peel uniform lines off each side of the image.
#include <algorithm>
#include <array>
#include <cstdlib>

#include "engine/describe/describe.h"

namespace hashmatch::describe {
namespace {

using Colour = std::array<int, 3>;

// Reads pixel (row, col) as up to 3 channels (grey repeats; alpha is ignored).
Colour At(const hash::PixelView& p, int row, int col) {
  const std::uint8_t* px = p.data.data() + static_cast<std::size_t>(row) * p.row_stride +
                           static_cast<std::size_t>(col) * static_cast<std::size_t>(p.channels);
  if (p.channels == 1) return {px[0], px[0], px[0]};
  return {px[0], px[1], px[2]};
}

bool Near(const Colour& a, const Colour& b, int tolerance) {
  for (int k = 0; k < 3; ++k) {
    if (std::abs(a[k] - b[k]) > tolerance) return false;
  }
  return true;
}

// One side being peeled: which line is next and how a line's pixels are enumerated.
struct Line {
  bool row;      // a row (top/bottom side) or a column (left/right side)
  int index;     // the row or column
  int from, to;  // [from, to) along the line
};

// The per-channel median of a line: the side's colour (robust to a few odd pixels).
Colour Median(const hash::PixelView& p, const Line& line) {
  Colour out{};
  std::vector<int> values;
  for (int k = 0; k < 3; ++k) {
    values.clear();
    for (int i = line.from; i < line.to; ++i) {
      values.push_back(line.row ? At(p, line.index, i)[k] : At(p, i, line.index)[k]);
    }
    std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
    out[k] = values[values.size() / 2];
  }
  return out;
}

// Whether all but `max_off` pixels of the line are within tolerance of `colour`.
bool Uniform(const hash::PixelView& p, const Line& line, const Colour& colour, int tolerance,
             int max_off) {
  int off = 0;
  for (int i = line.from; i < line.to; ++i) {
    const Colour c = line.row ? At(p, line.index, i) : At(p, i, line.index);
    if (!Near(c, colour, tolerance) && ++off > max_off) return false;
  }
  return true;
}

}  // namespace

BorderResult FindContent(const hash::PixelView& p, const BorderOptions& o) {
  ContentBox box{0, 0, p.cols, p.rows};
  if (p.rows <= 0 || p.cols <= 0) return {BorderResult::Kind::kAllBorder, box};
  // Peels one side by as many uniform lines as there are; returns how many.
  const auto peel = [&](int side) {
    const auto line_at = [&](int depth) {
      switch (side) {
        case 0:
          return Line{true, box.y + depth, box.x, box.x + box.width};
        case 1:
          return Line{true, box.y + box.height - 1 - depth, box.x, box.x + box.width};
        case 2:
          return Line{false, box.x + depth, box.y, box.y + box.height};
        default:
          return Line{false, box.x + box.width - 1 - depth, box.y, box.y + box.height};
      }
    };
    const int extent = side < 2 ? box.height : box.width;
    const int length = side < 2 ? box.width : box.height;
    const int max_off = static_cast<int>(o.max_off_fraction * length);
    const Colour colour = Median(p, line_at(0));
    int depth = 0;
    while (depth < extent && Uniform(p, line_at(depth), colour, o.tolerance, max_off)) ++depth;
    return depth;
  };
  // Sides in turn until none changes: frames of several colours, a caption band inside black
  // bars, and so on. Each pass can only shrink the box.
  for (bool changed = true; changed;) {
    changed = false;
    for (int side = 0; side < 4; ++side) {
      if (box.width <= 0 || box.height <= 0) break;
      const int depth = peel(side);
      if (depth < o.min_border) continue;
      changed = true;
      switch (side) {
        case 0:
          box.y += depth, box.height -= depth;
          break;
        case 1:
          box.height -= depth;
          break;
        case 2:
          box.x += depth, box.width -= depth;
          break;
        default:
          box.width -= depth;
          break;
      }
    }
  }
  const bool untouched = box.x == 0 && box.y == 0 && box.width == p.cols && box.height == p.rows;
  if (untouched) return {BorderResult::Kind::kNone, box};
  const bool too_small = box.width < o.min_content_side || box.height < o.min_content_side ||
                         static_cast<double>(box.width) * box.height <
                             o.min_content_fraction * static_cast<double>(p.cols) * p.rows;
  return {too_small ? BorderResult::Kind::kAllBorder : BorderResult::Kind::kTrimmed, box};
}

hash::PixelView Crop(const hash::PixelView& p, const ContentBox& box) {
  hash::PixelView out = p;
  const std::size_t first = static_cast<std::size_t>(box.y) * p.row_stride +
                            static_cast<std::size_t>(box.x) * static_cast<std::size_t>(p.channels);
  const std::size_t last_row_end =
      static_cast<std::size_t>(box.y + box.height - 1) * p.row_stride +
      static_cast<std::size_t>(box.x + box.width) * static_cast<std::size_t>(p.channels);
  out.data = p.data.subspan(first, last_row_end - first);
  out.rows = box.height;
  out.cols = box.width;
  return out;
}

}  // namespace hashmatch::describe

// PDQ as Meta's reference pdq-photo-hasher computes it. The photo tool's pre-steps (512x512
// pre-resize, grey-file rule) are explicit options; the algorithm itself is in pdq_kernels.cc.
#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/hash/hash.h"
#include "engine/hash/internal/pdq_kernels.h"

namespace hashmatch::hash {
namespace {

constexpr int kPreResizeSide = 512;
constexpr int kJaroszPasses = 2;

// From Wikipedia: standard RGB to luminance (the 'Y' in 'YUV'), as float constants.
constexpr float kLumaR = 0.299f;
constexpr float kLumaG = 0.587f;
constexpr float kLumaB = 0.114f;

absl::Status Validate(const PixelView& p) {
  if (p.channels != 1 && p.channels != 3 && p.channels != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("pixels: ", p.channels, " channels; PDQ takes 1 (grey), 3 or 4"));
  }
  if (p.rows < kPdqMinSide || p.cols < kPdqMinSide) {
    return absl::InvalidArgumentError(absl::StrCat("image is ", p.cols, "x", p.rows,
                                                   " pixels; PDQ needs at least ", kPdqMinSide,
                                                   " on each side"));
  }
  const std::size_t row_bytes = static_cast<std::size_t>(p.cols) * p.channels;
  if (p.row_stride < row_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("pixels: row stride ", p.row_stride, " < ", row_bytes, " bytes per row"));
  }
  const std::size_t needed = (static_cast<std::size_t>(p.rows) - 1) * p.row_stride + row_bytes;
  if (p.data.size() < needed) {
    return absl::InvalidArgumentError(absl::StrCat("pixels: buffer holds ", p.data.size(),
                                                   " bytes, ", p.cols, "x", p.rows, " needs ",
                                                   needed));
  }
  return absl::OkStatus();
}

bool AllChannelsEqual(const PixelView& p) {
  if (p.channels == 1) return true;
  for (int r = 0; r < p.rows; ++r) {
    const std::uint8_t* px = p.data.data() + static_cast<std::size_t>(r) * p.row_stride;
    for (int c = 0; c < p.cols; ++c, px += p.channels) {
      if (px[0] != px[1] || px[1] != px[2]) return false;
    }
  }
  return true;
}

// Source index for each of `out` samples when resizing `in` samples by nearest neighbour, as the
// reference's CImg resize does: floor(x * in / out) in double. Identity when in == out.
void NearestIndices(int in, int out, std::vector<int>& index) {
  index.resize(out);
  for (int x = 0; x < out; ++x) {
    index[x] = in == out ? x : static_cast<int>(static_cast<double>(x) * in / out);
  }
}

}  // namespace

struct PdqHasher::Scratch {
  std::vector<int> row_index, col_index;
  std::vector<float> buf1, buf2, lane_in, lane_out, sum;
  alignas(64) float a64x64[64 * 64];
  alignas(64) float t16x64[16 * 64];
  alignas(64) float b16x16[16 * 16];
  alignas(64) float aux16x16[16 * 16];
};

PdqHasher::PdqHasher(PdqOptions options)
    : options_(options), scratch_(std::make_unique<Scratch>()) {}
PdqHasher::~PdqHasher() = default;

namespace {

// Fills s.buf1 with the float luma of `p` (pre-resized when the options say so) and returns its
// size. Grey images (by the reference's rule) use the raw value, others the float luma.
struct LumaSize {
  int rows;
  int cols;
};

template <typename Scratch>
LumaSize FillLuma(const PixelView& p, const PdqOptions& options, Scratch& s) {
  const bool resize =
      options.resize_large_to_512 && (p.rows > kPreResizeSide || p.cols > kPreResizeSide);
  const int rows = resize ? kPreResizeSide : p.rows;
  const int cols = resize ? kPreResizeSide : p.cols;
  NearestIndices(p.rows, rows, s.row_index);
  NearestIndices(p.cols, cols, s.col_index);
  const std::size_t n = static_cast<std::size_t>(rows) * cols;
  s.buf1.resize(n);
  s.buf2.resize(n);
  s.sum.resize(std::max(rows, cols));
  s.lane_in.resize(static_cast<std::size_t>(cols) * internal::kRowBlock);
  s.lane_out.resize(s.lane_in.size());

  const bool grey = options.grey_when_all_channels_equal ? AllChannelsEqual(p) : p.channels == 1;
  const int ch = p.channels;
  const int r_off = (ch == 1) ? 0 : (p.order == ChannelOrder::kRgb ? 0 : 2);
  const int g_off = (ch == 1) ? 0 : 1;
  const int b_off = (ch == 1) ? 0 : (p.order == ChannelOrder::kRgb ? 2 : 0);
  for (int r = 0; r < rows; ++r) {
    const std::uint8_t* src =
        p.data.data() + static_cast<std::size_t>(s.row_index[r]) * p.row_stride;
    float* dst = s.buf1.data() + static_cast<std::size_t>(r) * cols;
    const int* ci = s.col_index.data();
    if (grey) {
      for (int c = 0; c < cols; ++c) dst[c] = static_cast<float>(src[ci[c] * ch]);
    } else {
      for (int c = 0; c < cols; ++c) {
        const std::uint8_t* px = src + ci[c] * ch;
        dst[c] = kLumaR * px[r_off] + kLumaG * px[g_off] + kLumaB * px[b_off];
      }
    }
  }
  return {rows, cols};
}

}  // namespace

absl::StatusOr<int> PdqHasher::ComputeDct(const PixelView& pixels, bool allow_64x64_shortcut) {
  HM_RETURN_IF_ERROR(Validate(pixels));
  Scratch& s = *scratch_;
  const LumaSize size = FillLuma(pixels, options_, s);
  if (allow_64x64_shortcut && size.rows == 64 && size.cols == 64) {
    // The reference uses a 64x64 input as the 64x64 buffer directly (no blur, no decimation).
    std::copy(s.buf1.begin(), s.buf1.end(), s.a64x64);
  } else {
    internal::JaroszFilter(s.buf1.data(), s.buf2.data(), s.lane_in.data(), s.lane_out.data(),
                           s.sum.data(), size.rows, size.cols, kJaroszPasses);
    internal::Decimate64(s.buf1.data(), size.rows, size.cols, s.a64x64);
  }
  internal::Dct64To16(s.a64x64, s.t16x64, s.b16x16);
  return internal::Quality(s.a64x64);
}

absl::StatusOr<PdqHash> PdqHasher::Hash(const PixelView& pixels) {
  HM_ASSIGN_OR_RETURN(const int quality, ComputeDct(pixels, /*allow_64x64_shortcut=*/true));
  return PdqHash{internal::BitsFromDct(scratch_->b16x16), quality};
}

absl::StatusOr<PdqDihedralHashes> PdqHasher::HashDihedral(const PixelView& pixels) {
  // The reference's dihedral path has no 64x64 shortcut.
  HM_ASSIGN_OR_RETURN(const int quality, ComputeDct(pixels, /*allow_64x64_shortcut=*/false));
  PdqDihedralHashes result;
  result.quality = quality;
  for (int d = 0; d < 8; ++d) {
    internal::DihedralOfDct(d, scratch_->b16x16, scratch_->aux16x16);
    result.hashes[d] = internal::BitsFromDct(scratch_->aux16x16);
  }
  return result;
}

}  // namespace hashmatch::hash

namespace hashmatch::hash {

int VpdqFrameMod(double frame_rate, double seconds_per_hash) {
  return std::max(1, static_cast<int>(seconds_per_hash * frame_rate));
}

}  // namespace hashmatch::hash

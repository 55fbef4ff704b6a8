#include "engine/hash/internal/pdq_kernels.h"

#include <algorithm>
#include <array>
#include <cmath>

// The hot loops get AVX2 and AVX-512 clones chosen at load time; the baseline build targets
// x86-64-v2. Only independent lanes are vectorised, so every clone computes the same bits.
#if defined(__x86_64__) && !defined(__clang__)
#define HM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define HM_SIMD_CLONES
#endif

namespace hashmatch::hash::internal {
namespace {

// D[i][j] = sqrt(2/64) * cos(pi/128 * (i+1) * (2j+1)), i < 16, j < 64, with the reference's mix of
// float and double: a float scale times a double cosine, rounded to float.
struct DctMatrix {
  std::array<float, 16 * 64> d;   // row-major 16x64
  std::array<float, 64 * 16> dt;  // its transpose, 64x16, for the second product
};

const DctMatrix& Dct() {
  static const DctMatrix matrix = [] {
    constexpr double kPi = 3.14159265358979323846;
    const float scale = std::sqrt(2.0 / double{64});
    DctMatrix m;
    for (std::size_t i = 0; i < 16; ++i) {
      for (std::size_t j = 0; j < 64; ++j) {
        const float value = scale * std::cos((kPi / 2.0 / double{64}) * (i + 1) * (2 * j + 1));
        m.d[i * 64 + j] = value;
        m.dt[j * 16 + i] = value;
      }
    }
    return m;
  }();
  return matrix;
}

// Copies rows [0, lanes) of a row-major block (row length `cols`, row pitch `cols`) into
// lane-interleaved form: dst[c * lanes + r] = src[r * cols + c].
void ToLanes(const float* src, int lanes, int cols, float* dst) {
  for (int r = 0; r < lanes; ++r) {
    const float* row = src + static_cast<std::ptrdiff_t>(r) * cols;
    for (int c = 0; c < cols; ++c) dst[c * lanes + r] = row[c];
  }
}

void FromLanes(const float* src, int lanes, int cols, float* dst) {
  for (int r = 0; r < lanes; ++r) {
    float* row = dst + static_cast<std::ptrdiff_t>(r) * cols;
    for (int c = 0; c < cols; ++c) row[c] = src[c * lanes + r];
  }
}

}  // namespace

HM_SIMD_CLONES
void BoxFilterLanes(const float* __restrict in, float* __restrict out, float* __restrict sum,
                    int length, int lanes, std::ptrdiff_t stride, int window) {
  // Four phases as in the reference: grow the window without writing, write while it grows,
  // slide it, shrink it. Each output is the running float sum divided by the current count.
  const int half = (window + 2) / 2;
  const int grow_silently = half - 1;
  const int grow_writing = window - half + 1;
  const int slide = length - window;
  const int shrink = half - 1;

  for (int l = 0; l < lanes; ++l) sum[l] = 0.0f;
  const float* add = in;
  const float* sub = in;
  float* dst = out;
  int count = 0;

  for (int t = 0; t < grow_silently; ++t, add += stride) {
    for (int l = 0; l < lanes; ++l) sum[l] += add[l];
    ++count;
  }
  for (int t = 0; t < grow_writing; ++t, add += stride, dst += stride) {
    ++count;
    const float n = static_cast<float>(count);
    for (int l = 0; l < lanes; ++l) {
      sum[l] += add[l];
      dst[l] = sum[l] / n;
    }
  }
  const float full = static_cast<float>(count);
  for (int t = 0; t < slide; ++t, add += stride, sub += stride, dst += stride) {
    for (int l = 0; l < lanes; ++l) {
      float s = sum[l] + add[l];
      s -= sub[l];
      sum[l] = s;
      dst[l] = s / full;
    }
  }
  for (int t = 0; t < shrink; ++t, sub += stride, dst += stride) {
    --count;
    const float n = static_cast<float>(count);
    for (int l = 0; l < lanes; ++l) {
      sum[l] -= sub[l];
      dst[l] = sum[l] / n;
    }
  }
}

void JaroszFilter(float* buf1, float* buf2, float* lane_in, float* lane_out, float* sum, int rows,
                  int cols, int passes) {
  const int window_along_rows = JaroszWindow(cols);
  const int window_along_cols = JaroszWindow(rows);
  for (int pass = 0; pass < passes; ++pass) {
    // Along rows: each row is a sequence. Gather a block of rows into lanes so the running sums
    // of kRowBlock rows advance together.
    for (int r0 = 0; r0 < rows; r0 += kRowBlock) {
      const int lanes = std::min(kRowBlock, rows - r0);
      const std::ptrdiff_t offset = static_cast<std::ptrdiff_t>(r0) * cols;
      ToLanes(buf1 + offset, lanes, cols, lane_in);
      BoxFilterLanes(lane_in, lane_out, sum, cols, lanes, lanes, window_along_rows);
      FromLanes(lane_out, lanes, cols, buf2 + offset);
    }
    // Along columns: row-major storage already interleaves the columns.
    BoxFilterLanes(buf2, buf1, sum, rows, cols, cols, window_along_cols);
  }
}

void Decimate64(const float* in, int rows, int cols, float* out64x64) {
  std::array<int, 64> col_index;
  for (int j = 0; j < 64; ++j) col_index[j] = static_cast<int>(((j + 0.5) * cols) / 64);
  for (int i = 0; i < 64; ++i) {
    const int row = static_cast<int>(((i + 0.5) * rows) / 64);
    const float* src = in + static_cast<std::ptrdiff_t>(row) * cols;
    for (int j = 0; j < 64; ++j) out64x64[i * 64 + j] = src[col_index[j]];
  }
}

int Quality(const float* a) {
  // Heuristic from the PDQ paper: count significant gradients, quantised to 1/100 of full scale.
  int gradient_sum = 0;
  for (int i = 0; i < 63; ++i) {
    for (int j = 0; j < 64; ++j) {
      const int d = static_cast<int>(((a[i * 64 + j] - a[(i + 1) * 64 + j]) * 100) / 255);
      gradient_sum += std::abs(d);
    }
  }
  for (int i = 0; i < 64; ++i) {
    for (int j = 0; j < 63; ++j) {
      const int d = static_cast<int>(((a[i * 64 + j] - a[i * 64 + j + 1]) * 100) / 255);
      gradient_sum += std::abs(d);
    }
  }
  return std::min(gradient_sum / 90, 100);
}

HM_SIMD_CLONES
void Dct64To16(const float* __restrict a, float* __restrict t, float* __restrict b) {
  const DctMatrix& m = Dct();
  // T = D A: T[i][j] accumulates D[i][k] * A[k][j] for k = 0..63 in order, vectorised over j.
  for (int i = 0; i < 16; ++i) {
    float* ti = t + i * 64;
    for (int j = 0; j < 64; ++j) ti[j] = 0.0f;
    for (int k = 0; k < 64; ++k) {
      const float d = m.d[i * 64 + k];
      const float* ak = a + k * 64;
      for (int j = 0; j < 64; ++j) ti[j] += d * ak[j];
    }
  }
  // B = T D^T: B[i][j] accumulates T[i][k] * D[j][k] for k = 0..63 in order, vectorised over j.
  for (int i = 0; i < 16; ++i) {
    float* bi = b + i * 16;
    for (int j = 0; j < 16; ++j) bi[j] = 0.0f;
    for (int k = 0; k < 64; ++k) {
      const float tik = t[i * 64 + k];
      const float* dk = m.dt.data() + k * 16;
      for (int j = 0; j < 16; ++j) bi[j] += tik * dk[j];
    }
  }
}

void DihedralOfDct(int which, const float* a, float* b) {
  // Sign patterns from the reference (pdqhashing.cpp): for coefficient (i, j), rotations and flips
  // of the image negate odd-frequency coefficients and/or transpose the matrix.
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      const float v = a[i * 16 + j];
      switch (which) {
        case 0:  // original
          b[i * 16 + j] = v;
          break;
        case 1:  // rotate 90
          b[j * 16 + i] = (j & 1) ? v : -v;
          break;
        case 2:  // rotate 180
          b[i * 16 + j] = ((i + j) & 1) ? -v : v;
          break;
        case 3:  // rotate 270
          b[j * 16 + i] = (i & 1) ? v : -v;
          break;
        case 4:  // flip x
          b[i * 16 + j] = (i & 1) ? v : -v;
          break;
        case 5:  // flip y
          b[i * 16 + j] = (j & 1) ? v : -v;
          break;
        case 6:  // flip plus1 (transpose)
          b[j * 16 + i] = v;
          break;
        default:  // flip minus1
          b[j * 16 + i] = ((i + j) & 1) ? -v : v;
          break;
      }
    }
  }
}

Pdq256 BitsFromDct(const float* b) {
  std::array<float, 256> sorted;
  std::copy(b, b + 256, sorted.begin());
  std::nth_element(sorted.begin(), sorted.begin() + 127, sorted.end());
  const float median = sorted[127];
  Pdq256 hash;
  for (int k = 0; k < 256; ++k) {
    if (b[k] > median) SetPdqBit(hash, k);
  }
  return hash;
}

}  // namespace hashmatch::hash::internal

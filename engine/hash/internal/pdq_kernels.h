// The numeric steps of PDQ, each reproducing Meta's reference operation for operation so that
// the float results are bit-identical (see ../../../README.md "PDQ compatibility"). Vectorised
// across independent rows/columns only: the order of operations on any one value never changes.
// Compile with -ffp-contract=off: a fused multiply-add changes the low bits and so the hash.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/core/core.h"

namespace hashmatch::hash::internal {

// The reference's window for the two-pass Jarosz (tent) filter down to 64 samples:
// ceil(dimension / 128).
inline int JaroszWindow(int dimension) { return (dimension + 127) / 128; }

// Reference box1DFloat on `lanes` independent sequences at once. Element t of sequence l is
// in[t * stride + l] (likewise out). `sum` is scratch of `lanes` floats. in and out must not
// overlap.
void BoxFilterLanes(const float* in, float* out, float* sum, int length, int lanes,
                    std::ptrdiff_t stride, int window);

// Scratch for JaroszFilter: enough for max(rows, cols) * kRowBlock floats, twice, plus sums.
inline constexpr int kRowBlock = 16;

// Reference jaroszFilterFloat: `passes` times (box along rows buf1->buf2, box along columns
// buf2->buf1). The result is in buf1. `lane_in`/`lane_out` hold cols * kRowBlock floats, `sum`
// max(rows, cols) floats.
void JaroszFilter(float* buf1, float* buf2, float* lane_in, float* lane_out, float* sum, int rows,
                  int cols, int passes);

// Reference decimateFloat to 64x64: sample centres, indices computed in double.
void Decimate64(const float* in, int rows, int cols, float* out64x64);

// Reference pdqImageDomainQualityMetric: 0..100 from the gradients of the 64x64 buffer.
int Quality(const float* in64x64);

// Reference dct64To16: B = D A D^T keeping coefficients 1..16 of each axis. t16x64 is scratch.
void Dct64To16(const float* a64x64, float* t16x64, float* b16x16);

// The reference's dct16OriginalTo* sign flips / transposes; `which` indexes Dihedral.
void DihedralOfDct(int which, const float* a16x16, float* b16x16);

// Reference pdqBuffer16x16ToBits: bit k set when coefficient k > the lower median (the 128th
// smallest, which is what Torben's method returns for 256 values).
Pdq256 BitsFromDct(const float* b16x16);

}  // namespace hashmatch::hash::internal

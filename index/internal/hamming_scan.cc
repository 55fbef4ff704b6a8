#include "index/internal/hamming_scan.h"

// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*(), which -Wmaybe-uninitialized
// reports inside the system header once inlined here.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace hashmatch::index::internal {
namespace {

// 1024 codes = 32 KiB: a block stays in L1/L2 while every query of the batch passes over it.
constexpr std::size_t kBlockCodes = 1024;

std::uint64_t Load64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

}  // namespace

int Distance256(const std::uint8_t* a, const std::uint8_t* b) {
  return __builtin_popcountll(Load64(a) ^ Load64(b)) +
         __builtin_popcountll(Load64(a + 8) ^ Load64(b + 8)) +
         __builtin_popcountll(Load64(a + 16) ^ Load64(b + 16)) +
         __builtin_popcountll(Load64(a + 24) ^ Load64(b + 24));
}

namespace {

void ScanBlockScalar(const std::uint8_t* codes, std::size_t begin, std::size_t end,
                     const std::uint8_t* query, int max_distance, std::vector<std::uint32_t>* out) {
  for (std::size_t i = begin; i < end; ++i) {
    if (Distance256(query, codes + i * 32) <= max_distance) {
      out->push_back(static_cast<std::uint32_t>(i));
    }
  }
}

#define HM_AVX512_TARGET __attribute__((target("avx512f,avx512vpopcntdq")))

// Two codes per 512-bit register: popcount each 64-bit lane, then add lanes within each 256-bit
// half so that every lane holds its code's distance; one compare gives both verdicts.
HM_AVX512_TARGET inline __mmask8 PairWithin(const std::uint8_t* p, __m512i query, __m512i limit) {
  __m512i s = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(p), query));
  s = _mm512_add_epi64(s, _mm512_shuffle_epi32(s, _MM_PERM_BADC));  // swap 64-bit halves
  s = _mm512_add_epi64(s, _mm512_shuffle_i64x2(s, s, 0xB1));        // swap 128-bit lanes
  return _mm512_cmple_epu64_mask(s, limit);
}

HM_AVX512_TARGET void ScanBlockAvx512(const std::uint8_t* codes, std::size_t begin, std::size_t end,
                                      const std::uint8_t* query, int max_distance,
                                      std::vector<std::uint32_t>* out) {
  std::uint8_t twice[64];
  std::memcpy(twice, query, 32);
  std::memcpy(twice + 32, query, 32);
  const __m512i q = _mm512_loadu_si512(twice);
  const __m512i limit = _mm512_set1_epi64(max_distance);
  std::size_t i = begin;
  for (; i + 8 <= end; i += 8) {
    const std::uint8_t* p = codes + i * 32;
    // Bits 0 and 4 of each mask are the two codes' verdicts.
    const unsigned m0 = PairWithin(p, q, limit) & 0x11u;
    const unsigned m1 = PairWithin(p + 64, q, limit) & 0x11u;
    const unsigned m2 = PairWithin(p + 128, q, limit) & 0x11u;
    const unsigned m3 = PairWithin(p + 192, q, limit) & 0x11u;
    const unsigned all = m0 | (m1 << 1) | (m2 << 2) | (m3 << 3);  // bit k: code i+k (k<4), k+4
    if (all == 0) continue;
    for (int k = 0; k < 8; ++k) {
      // Code i+k sits in register k/2, half k%2: mask bit (k%2)*4 shifted by k/2.
      if (all & (1u << ((k % 2) * 4 + k / 2))) out->push_back(static_cast<std::uint32_t>(i + k));
    }
  }
  ScanBlockScalar(codes, i, end, query, max_distance, out);
}

using BlockKernel = void (*)(const std::uint8_t*, std::size_t, std::size_t, const std::uint8_t*,
                             int, std::vector<std::uint32_t>*);

BlockKernel ChooseKernel() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vpopcntdq") ? ScanBlockAvx512 : ScanBlockScalar;
}

const BlockKernel kKernel = ChooseKernel();

}  // namespace

bool ScanUsesAvx512() { return kKernel == ScanBlockAvx512; }

void ScanWithin(const std::uint8_t* codes, std::size_t code_count, const std::uint8_t* queries,
                std::size_t query_count, int max_distance,
                std::vector<std::vector<std::uint32_t>>* positions) {
  if (max_distance < 0) return;
  for (std::size_t begin = 0; begin < code_count; begin += kBlockCodes) {
    const std::size_t end = std::min(code_count, begin + kBlockCodes);
    for (std::size_t q = 0; q < query_count; ++q) {
      kKernel(codes, begin, end, queries + q * 32, max_distance, &(*positions)[q]);
    }
  }
}

void ScanWithinOne(const std::uint8_t* codes, std::size_t code_count, const std::uint8_t* query,
                   int max_distance, std::vector<std::uint32_t>* positions) {
  if (max_distance < 0) return;
  kKernel(codes, 0, code_count, query, max_distance, positions);
}

}  // namespace hashmatch::index::internal

// Brute-force Hamming range scan over packed 256-bit codes: the strategy for radii where probing
// multi-index tables would cost more than reading every code, and the baseline of bench_index.
//
// Codes are compared in cache-sized blocks against every query of a batch, so a batch reads the
// codes from memory once per block instead of once per query. AVX-512 VPOPCNTDQ when the CPU has
// it (chosen at run time), POPCNT otherwise. Pure functions of their arguments: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hashmatch::index::internal {

// For each query q (32 bytes each, `query_count` of them), appends to (*positions)[q] every i in
// [0, code_count) with popcount(query_q ^ code_i) <= max_distance, ascending. `positions` must
// hold `query_count` vectors; existing contents are kept.
void ScanWithin(const std::uint8_t* codes, std::size_t code_count, const std::uint8_t* queries,
                std::size_t query_count, int max_distance,
                std::vector<std::vector<std::uint32_t>>* positions);

// The same for one query.
void ScanWithinOne(const std::uint8_t* codes, std::size_t code_count, const std::uint8_t* query,
                   int max_distance, std::vector<std::uint32_t>* positions);

// popcount(a ^ b) over 32 bytes.
int Distance256(const std::uint8_t* a, const std::uint8_t* b);

// Whether the vector kernel is in use on this CPU (for the bench's report).
bool ScanUsesAvx512();

}  // namespace hashmatch::index::internal

// Helpers shared by the index tests: random PDQ values and descriptors.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "index/store.h"

namespace hashmatch::index::testing {

inline std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// A copy of `value` with exactly `distance` distinct bits flipped.
inline std::string Flipped(std::mt19937_64& rng, std::string value, int distance) {
  std::vector<int> bits(value.size() * 8);
  for (std::size_t i = 0; i < bits.size(); ++i) bits[i] = static_cast<int>(i);
  std::shuffle(bits.begin(), bits.end(), rng);
  for (int i = 0; i < distance; ++i)
    value[bits[i] / 8] = static_cast<char>(value[bits[i] / 8] ^ (1 << (bits[i] % 8)));
  return value;
}

inline NewDescriptor Pdq(std::string value, DescriptorStatus status = DescriptorStatus::kVerified,
                         int quality = 100) {
  return {Signal::kPdq, std::move(value), quality, "A1", status};
}

inline Contribution Police(std::string case_ref = "case-1") {
  return {"police", std::move(case_ref), "key-police", ""};
}

inline Pdq256 AsPdq(const std::string& value) {
  Pdq256 hash;
  std::copy(value.begin(), value.end(), hash.bytes.begin());
  return hash;
}

}  // namespace hashmatch::index::testing

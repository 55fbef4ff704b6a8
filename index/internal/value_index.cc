#include "index/internal/value_index.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

namespace hashmatch::index::internal {
namespace {

// Eight bytes at a time, each word multiplied in, then a murmur finaliser so that the low bits
// (the probe start) depend on every byte. Values are mostly uniform hashes already; this only has
// to be cheap and not degenerate on structured ones.
std::uint64_t Mix(std::uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

}  // namespace

std::uint64_t ValueIndex::Hash(Signal signal, std::string_view value) {
  constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = (static_cast<std::uint64_t>(signal) << 32 ^ value.size()) * kMul;
  std::size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, value.data() + i, 8);
    h = std::rotl((h ^ word) * kMul, 29);
  }
  std::uint64_t tail = 0;
  if (i < value.size()) std::memcpy(&tail, value.data() + i, value.size() - i);
  return Mix((h ^ tail) * kMul);
}

void ValueIndex::Insert(std::uint64_t hash, std::int64_t id) {
  if ((size_ + 1) * 4 > slots_.size() * 3) Rehash(std::max<std::size_t>(1024, slots_.size() * 2));
  std::size_t i = hash & mask_;
  while (slots_[i].id != 0) i = (i + 1) & mask_;
  slots_[i] = {hash, id};
  ++size_;
}

void ValueIndex::InsertMany(std::span<const Entry> entries) {
  Reserve(size_ + entries.size());
  for (const Entry& e : entries) __builtin_prefetch(&slots_[e.hash & mask_], 1);
  for (const Entry& e : entries) Insert(e.hash, e.id);
}

void ValueIndex::Reserve(std::size_t n) {
  std::size_t capacity = std::max<std::size_t>(1024, slots_.size());
  while (n * 4 > capacity * 3) capacity *= 2;
  if (capacity != slots_.size()) Rehash(capacity);
}

void ValueIndex::Clear() {
  std::vector<Slot>().swap(slots_);
  mask_ = 0;
  size_ = 0;
}

void ValueIndex::Rehash(std::size_t capacity) {
  std::vector<Slot> old = std::exchange(slots_, std::vector<Slot>(capacity));
  mask_ = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.id == 0) continue;
    std::size_t i = slot.hash & mask_;
    while (slots_[i].id != 0) i = (i + 1) & mask_;
    slots_[i] = slot;
  }
}

}  // namespace hashmatch::index::internal

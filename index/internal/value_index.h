// The store's in-memory index from (signal, value) to descriptor ids: duplicate detection on add
// and Store::Find.
//
// Why not a SQLite index: descriptor values are uniformly random, so once the B-tree outgrows a
// batch every insert dirtied a page of its own, written to the WAL and again at checkpoint (~4 KB
// per descriptor). Durable ingest fell from 150 k/s at 1 M rows to 35 k/s at 10 M. This table is
// 16 bytes per slot, rebuilt from the rows when a store opens; a hash hit is confirmed against the
// row, so collisions cost a read, never a wrong answer.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "engine/core/core.h"

namespace hashmatch::index::internal {

class ValueIndex {
 public:
  static std::uint64_t Hash(Signal signal, std::string_view value);

  struct Entry {
    std::uint64_t hash;
    std::int64_t id;
  };
  // `id` > 0. The same (hash, id) twice is the caller's bug, not checked.
  void Insert(std::uint64_t hash, std::int64_t id);
  // Bulk load: prefetches every entry's slot first, since each one is a cache miss.
  void InsertMany(std::span<const Entry> entries);
  // Room for `n` entries without growing.
  void Reserve(std::size_t n);

  // Calls `visit(id)` for each id inserted with `hash` until it returns true;
  // returns that id, or 0. Order among equal hashes is unspecified.
  template <typename Visit>
  std::int64_t FindIf(std::uint64_t hash, Visit visit) const {
    if (slots_.empty()) return 0;
    for (std::size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id == 0) return 0;
      if (slot.hash == hash && visit(slot.id)) return slot.id;
    }
  }

  void Clear();
  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::int64_t id = 0;  // 0: empty (SQLite rowids start at 1)
  };
  void Rehash(std::size_t capacity);

  std::vector<Slot> slots_;  // linear probing, power-of-two size, at most 3/4 full
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace hashmatch::index::internal

// Exact Hamming range search over 256-bit PDQ codes by multi-index hashing (Norouzi, Punjani,
// Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012), as a
// faiss::IndexBinary so that it composes with FAISS id maps and shards and is checked against
// faiss::IndexBinaryFlat.
//
// Why it is exact: the code is cut into `chunks` disjoint sub-codes. If two codes are within
// distance r, at least one sub-code pair is within floor(r / chunks) bits (pigeonhole). Each
// chunk's table is probed for every sub-code value within that many bit flips of the query's, and
// every candidate is verified with the full 256-bit distance. Table buckets use the low bits of
// the sub-code; a shared bucket only adds candidates, never loses one. When the probe count for a
// radius would exceed the cost of a scan (large radii, small indexes), it scans all codes.
//
// Immutable after construction (add() rebuilds everything: use it once). Thread-safe for
// concurrent const calls.
#pragma once

#include <faiss/IndexBinary.h>

#include <cstdint>
#include <utility>
#include <vector>

namespace hashmatch::index::internal {

class MihIndex final : public faiss::IndexBinary {
 public:
  static constexpr int kCodeBytes = 32;

  // `chunks` sub-codes (8..32, so each is at most 32 bits). 11 suits radius 31: 2 flips per
  // ~23-bit sub-code.
  explicit MihIndex(int chunks = 11);

  // Appends n codes (labels continue from ntotal) and rebuilds the tables.
  void add(int64_t n, const std::uint8_t* x) override;
  void reset() override;

  // Exact k nearest neighbours (ties by label), by scanning. Distances ascending; missing slots
  // get label -1 and distance INT32_MAX.
  void search(int64_t n, const std::uint8_t* x, int64_t k, std::int32_t* distances, int64_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;

  // FAISS convention: every code with distance < radius (strict).
  void range_search(int64_t n, const std::uint8_t* x, int radius, faiss::RangeSearchResult* result,
                    const faiss::SearchParameters* params = nullptr) const override;

  // Every code with distance <= max_distance (0..256), as (label, distance) sorted by label.
  void RangeSearchOne(const std::uint8_t* query, int max_distance,
                      std::vector<std::pair<int64_t, int>>* out) const;

  // Bytes held by codes and tables.
  std::size_t MemoryBytes() const;

  int chunks() const { return static_cast<int>(chunk_start_.size()); }

 private:
  struct Table {
    std::vector<std::uint32_t> offsets;  // 2^table_bits + 1 bucket starts into ids
    std::vector<std::uint32_t> ids;      // labels grouped by bucket
  };

  void Build();
  std::uint32_t SubCode(const std::uint8_t* code, int chunk) const;
  void ScanRange(const std::uint8_t* query, int max_distance,
                 std::vector<std::pair<int64_t, int>>* out) const;
  // Whether probing every chunk with `flips` flips costs less than scanning all codes.
  bool ProbesCheaperThanScan(int flips) const;

  std::vector<int> chunk_start_;  // first bit of each chunk
  std::vector<int> chunk_bits_;
  int table_bits_ = 0;  // low sub-code bits used as bucket index
  std::vector<std::uint8_t> codes_;
  std::vector<Table> tables_;
};

}  // namespace hashmatch::index::internal

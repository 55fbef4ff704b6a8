// Exact Hamming range search over 256-bit PDQ codes by multi-index hashing (Norouzi, Punjani,
// Fleet, "Fast Search in Hamming Space with Multi-Index Hashing", CVPR 2012), as a
// faiss::IndexBinary so that it composes with FAISS and is checked against IndexBinaryFlat.
//
// Why it is exact: the code is cut into `chunks` disjoint sub-codes. If two codes are within
// distance r, at least one sub-code pair is within floor(r / chunks) bits (pigeonhole). Each
// chunk's table is probed for every bucket within that many bit flips of the query's, and every
// candidate is verified with the full 256-bit distance. Buckets use the low `table_bits` bits of a
// sub-code: a shared bucket only adds candidates, never loses one. When probing would cost more
// than reading every code (large radii, small indexes), it scans (hamming_scan.h).
//
// Memory (about 77 bytes per code at 10 M with 11 chunks): the codes themselves (32 B) stored in
// chunk 0's bucket order, so chunk 0 needs no id list; a 32-bit label per code; for chunks 1..m-1
// the positions of each bucket's codes packed in 3 bytes (4 above 2^24 codes); bucket offsets as
// one 64-byte line per 60 buckets (a 32-bit base + 60 one-byte counts; a line with a bucket of 255
// or more codes moves to a side table of full offsets).
//
// Immutable after Build (FAISS add() rebuilds everything). Thread-safe for concurrent const calls.
#pragma once

#include <faiss/IndexBinary.h>

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "index/internal/huge_pages.h"

namespace hashmatch::index::internal {

class BinaryReader;
class BinaryWriter;

class MihIndex final : public faiss::IndexBinary {
 public:
  static constexpr int kCodeBytes = 32;

  // `chunks` sub-codes (8..32, so each is at most 32 bits). 11 suits radius 31: 2 flips per
  // ~23-bit sub-code.
  explicit MihIndex(int chunks = 11);

  // Replaces the contents with `labels.size()` codes (32 bytes each) using `threads` threads.
  // Positions (0..size-1) are table order, not input order: see label() and code(); *order (if
  // given) receives each position's input index.
  void Build(std::span<const std::uint8_t> codes, std::span<const std::uint32_t> labels,
             int threads = 1, std::vector<std::uint32_t>* order = nullptr);

  // Appends to *positions every position whose code is within max_distance (inclusive) of
  // `query`, ascending and without repeats.
  void FindWithin(const std::uint8_t* query, int max_distance,
                  std::vector<std::uint32_t>* positions) const;
  // Whether FindWithin would scan every code at this radius (the caller may batch such queries
  // through ScanWithin instead).
  bool ScansAt(int max_distance) const;

  std::size_t size() const { return labels_.size(); }
  std::uint32_t label(std::uint32_t position) const { return labels_[position]; }
  const std::uint8_t* code(std::uint32_t position) const {
    return codes_.data() + static_cast<std::size_t>(position) * kCodeBytes;
  }
  const std::uint8_t* codes() const { return codes_.data(); }
  // Bytes held by codes, labels and tables.
  std::size_t MemoryBytes() const;
  int chunks() const { return static_cast<int>(chunk_start_.size()); }

  // The snapshot form (snapshot_file.h): every array as built, so loading does not rebuild.
  void Save(BinaryWriter& out) const;
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MihIndex>> Load(BinaryReader& in);

  // faiss::IndexBinary. Labels: for add(), the insertion index; after Build(), the given labels.
  void add(int64_t n, const std::uint8_t* x) override;
  void reset() override;
  // Exact k nearest neighbours by scanning. Missing slots get label -1, distance INT32_MAX.
  void search(int64_t n, const std::uint8_t* x, int64_t k, std::int32_t* distances, int64_t* labels,
              const faiss::SearchParameters* params = nullptr) const override;
  // FAISS convention: every code with distance < radius (strict).
  void range_search(int64_t n, const std::uint8_t* x, int radius, faiss::RangeSearchResult* result,
                    const faiss::SearchParameters* params = nullptr) const override;

 private:
  // 64 bytes: the offset of the line's first bucket and each bucket's count (< 255).
  struct alignas(64) OffsetLine {
    std::uint32_t base;
    std::uint8_t counts[60];
  };
  static constexpr int kBucketsPerLine = 60;
  static constexpr std::uint32_t kSaveMagic = 0x3148494D;  // "MIH1", first in Save's form
  struct Table {
    HugeVector<OffsetLine> lines;
    std::vector<std::uint32_t> wide;  // 61 offsets per line holding a bucket of >= 255 codes
    HugeVector<std::uint8_t> ids;     // positions, id_bytes_ each (+ padding); empty for chunk 0
  };
  struct Probe {
    std::uint32_t begin, end;
    int chunk;
  };

  std::uint32_t SubCode(const std::uint8_t* code, int chunk) const;
  std::pair<std::uint32_t, std::uint32_t> BucketRange(const Table& table,
                                                      std::uint32_t bucket) const;
  Table MakeTable(const std::vector<std::uint32_t>& counts) const;
  void FillIds(int chunk, Table* table) const;
  // Bucket-bit flips probed in `chunk` for a radius (-1: none); see the .cc.
  int FlipsFor(int chunk, int max_distance) const;
  double ProbeCost(int max_distance) const;

  std::vector<int> chunk_start_;  // first bit of each chunk
  std::vector<int> chunk_bits_;
  int table_bits_ = 0;
  int id_bytes_ = 3;
  HugeVector<std::uint8_t> codes_;
  HugeVector<std::uint32_t> labels_;
  std::vector<Table> tables_;
};

}  // namespace hashmatch::index::internal

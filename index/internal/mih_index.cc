#include "index/internal/mih_index.h"

#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissAssert.h>
#include <faiss/utils/hamming.h>  // includes the inline HammingComputer32

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>
#include <queue>

namespace hashmatch::index::internal {
namespace {

// C(n, 0) + ... + C(n, k): sub-codes within k flips of one value.
double BallSize(int n, int k) {
  double total = 0, term = 1;
  for (int i = 0; i <= k; ++i) {
    total += term;
    term = term * (n - i) / (i + 1);
  }
  return total;
}

// Calls visit(v) for every value v within `flips` bit flips of `value` over the low `bits` bits,
// flipping bit positions in increasing order so that each value is visited once.
template <typename Visit>
void ForEachWithinFlips(std::uint32_t value, int bits, int flips, int first_bit, Visit&& visit) {
  visit(value);
  if (flips == 0) return;
  for (int b = first_bit; b < bits; ++b) {
    ForEachWithinFlips(value ^ (1u << b), bits, flips - 1, b + 1, visit);
  }
}

}  // namespace

MihIndex::MihIndex(int chunks) : faiss::IndexBinary(kCodeBytes * 8) {
  FAISS_THROW_IF_NOT_MSG(chunks >= 8 && chunks <= 32, "MihIndex: chunks must be in 8..32");
  // Near-equal widths: the first (256 % chunks) chunks get one extra bit. Widths stay <= 32.
  int start = 0;
  for (int c = 0; c < chunks; ++c) {
    const int bits = 256 / chunks + (c < 256 % chunks ? 1 : 0);
    chunk_start_.push_back(start);
    chunk_bits_.push_back(bits);
    start += bits;
  }
  is_trained = true;
}

std::uint32_t MihIndex::SubCode(const std::uint8_t* code, int chunk) const {
  // Bits [start, start + bits) of the code read as four little-endian 64-bit words.
  const int start = chunk_start_[chunk], bits = chunk_bits_[chunk];
  const int word = start / 64, shift = start % 64;
  std::uint64_t lo, hi = 0;
  std::memcpy(&lo, code + 8 * word, 8);
  if (shift + bits > 64) std::memcpy(&hi, code + 8 * (word + 1), 8);
  const std::uint64_t v = shift == 0 ? lo : (lo >> shift) | (hi << (64 - shift));
  return static_cast<std::uint32_t>(v & ((std::uint64_t{1} << bits) - 1));
}

void MihIndex::add(int64_t n, const std::uint8_t* x) {
  FAISS_THROW_IF_NOT_MSG(ntotal + n <= INT32_MAX, "MihIndex: too many codes");
  codes_.insert(codes_.end(), x, x + n * kCodeBytes);
  ntotal += n;
  Build();
}

void MihIndex::reset() {
  codes_.clear();
  tables_.clear();
  ntotal = 0;
}

void MihIndex::Build() {
  // About one code per bucket: enough buckets to keep candidates few, few enough to keep the
  // offsets no larger than the ids.
  const int want =
      std::max(1, static_cast<int>(std::bit_width(static_cast<std::uint64_t>(ntotal))));
  table_bits_ = std::min(want, *std::min_element(chunk_bits_.begin(), chunk_bits_.end()));
  const std::uint32_t buckets = 1u << table_bits_, mask = buckets - 1;
  tables_.assign(chunk_start_.size(), Table{});
  for (std::size_t c = 0; c < tables_.size(); ++c) {
    Table& t = tables_[c];
    t.offsets.assign(buckets + 1, 0);
    for (int64_t i = 0; i < ntotal; ++i) {
      ++t.offsets[(SubCode(&codes_[i * kCodeBytes], static_cast<int>(c)) & mask) + 1];
    }
    for (std::uint32_t b = 0; b < buckets; ++b) t.offsets[b + 1] += t.offsets[b];
    t.ids.resize(ntotal);
    std::vector<std::uint32_t> fill(t.offsets.begin(), t.offsets.end() - 1);
    for (int64_t i = 0; i < ntotal; ++i) {
      const std::uint32_t bucket = SubCode(&codes_[i * kCodeBytes], static_cast<int>(c)) & mask;
      t.ids[fill[bucket]++] = static_cast<std::uint32_t>(i);
    }
  }
}

bool MihIndex::ProbesCheaperThanScan(int flips) const {
  // A probe costs about as much as a few dozen code comparisons (two cache misses); candidates
  // per probe average ntotal / 2^table_bits.
  const double probes = chunks() * BallSize(table_bits_, flips);
  const double per_probe = 32.0 + static_cast<double>(ntotal) / (1u << table_bits_);
  return probes * per_probe < static_cast<double>(ntotal);
}

void MihIndex::ScanRange(const std::uint8_t* query, int max_distance,
                         std::vector<std::pair<int64_t, int>>* out) const {
  const faiss::HammingComputer32 hc(query, kCodeBytes);
  for (int64_t i = 0; i < ntotal; ++i) {
    const int distance = hc.hamming(&codes_[i * kCodeBytes]);
    if (distance <= max_distance) out->emplace_back(i, distance);
  }
}

void MihIndex::RangeSearchOne(const std::uint8_t* query, int max_distance,
                              std::vector<std::pair<int64_t, int>>* out) const {
  out->clear();
  if (ntotal == 0 || max_distance < 0) return;
  const int flips = max_distance / chunks();
  if (!ProbesCheaperThanScan(flips)) {
    ScanRange(query, max_distance, out);
    return;
  }
  const faiss::HammingComputer32 hc(query, kCodeBytes);
  const std::uint32_t mask = (1u << table_bits_) - 1;
  for (int c = 0; c < chunks(); ++c) {
    const Table& t = tables_[c];
    // Flips above table_bits_ land in the same bucket: enumerate only the bucket bits, with the
    // same flip budget (a superset of the sub-codes within `flips`).
    ForEachWithinFlips(SubCode(query, c) & mask, table_bits_, flips, 0, [&](std::uint32_t b) {
      for (std::uint32_t k = t.offsets[b]; k < t.offsets[b + 1]; ++k) {
        const std::uint32_t id = t.ids[k];
        const int distance = hc.hamming(&codes_[static_cast<std::size_t>(id) * kCodeBytes]);
        if (distance <= max_distance) out->emplace_back(id, distance);
      }
    });
  }
  // A code close on several chunks is found once per chunk.
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
}

void MihIndex::range_search(int64_t n, const std::uint8_t* x, int radius,
                            faiss::RangeSearchResult* result,
                            const faiss::SearchParameters* /*params*/) const {
  std::vector<std::vector<std::pair<int64_t, int>>> hits(n);
  // Queries are independent: spread a batch over the cores, as FAISS's own indexes do.
#pragma omp parallel for schedule(dynamic, 16) if (n > 16)
  for (int64_t q = 0; q < n; ++q) RangeSearchOne(x + q * kCodeBytes, radius - 1, &hits[q]);
  // FAISS quirk: do_allocation() wants each query's *count* in lims[q] and turns lims into
  // offsets itself.
  for (int64_t q = 0; q < n; ++q) result->lims[q] = hits[q].size();
  result->do_allocation();
  for (int64_t q = 0; q < n; ++q) {
    std::size_t at = result->lims[q];
    for (const auto& [label, distance] : hits[q]) {
      result->labels[at] = label;
      result->distances[at++] = static_cast<float>(distance);
    }
  }
}

void MihIndex::search(int64_t n, const std::uint8_t* x, int64_t k, std::int32_t* distances,
                      int64_t* labels, const faiss::SearchParameters* /*params*/) const {
  for (int64_t q = 0; q < n; ++q) {
    const faiss::HammingComputer32 hc(x + q * kCodeBytes, kCodeBytes);
    std::priority_queue<std::pair<int, int64_t>> best;  // max-heap of the k best
    for (int64_t i = 0; i < ntotal; ++i) {
      const std::pair<int, int64_t> item{hc.hamming(&codes_[i * kCodeBytes]), i};
      if (static_cast<int64_t>(best.size()) < k) {
        best.push(item);
      } else if (item < best.top()) {
        best.pop();
        best.push(item);
      }
    }
    for (int64_t j = k - 1; j >= 0; --j) {
      const bool have = !best.empty();
      distances[q * k + j] = have ? best.top().first : INT32_MAX;
      labels[q * k + j] = have ? best.top().second : -1;
      if (have) best.pop();
    }
  }
}

std::size_t MihIndex::MemoryBytes() const {
  std::size_t bytes = codes_.capacity();
  for (const Table& t : tables_) bytes += 4 * (t.offsets.capacity() + t.ids.capacity());
  return bytes;
}

}  // namespace hashmatch::index::internal

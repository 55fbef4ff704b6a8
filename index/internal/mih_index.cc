#include "index/internal/mih_index.h"

#include <emmintrin.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissAssert.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>
#include <queue>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "engine/sys/sys.h"
#include "index/internal/binary_io.h"
#include "index/internal/hamming_scan.h"

namespace hashmatch::index::internal {
namespace {

constexpr std::uint32_t kWideFlag = 0x80000000u;

// C(n, 0) + ... + C(n, k): bucket values within k flips of one value.
double BallSize(int n, int k) {
  double total = 0, term = 1;
  for (int i = 0; i <= k && i <= n; ++i) {
    total += term;
    term = term * (n - i) / (i + 1);
  }
  return total;
}

// Calls visit(v) for every value within `flips` bit flips of `value` over bits [first_bit, bits),
// flipping positions in increasing order so that each value is visited once.
template <typename Visit>
void ForEachWithinFlips(std::uint32_t value, int bits, int flips, int first_bit, Visit&& visit) {
  visit(value);
  if (flips == 0) return;
  for (int b = first_bit; b < bits; ++b) {
    ForEachWithinFlips(value ^ (1u << b), bits, flips - 1, b + 1, visit);
  }
}

// Sum of the first k (< 60) counts of a 64-byte offset line (counts at bytes 4..63), with SSE2's
// sum-of-absolute-differences adding 8 bytes at a time.
std::uint32_t PrefixCount(const void* line, int k) {
  const auto* p = static_cast<const __m128i*>(line);
  const __m128i zero = _mm_setzero_si128();
  const __m128i three = _mm_set1_epi8(3), end = _mm_set1_epi8(static_cast<char>(4 + k));
  __m128i index = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __m128i total = zero;
  for (int i = 0; i < 4; ++i) {
    const __m128i keep = _mm_and_si128(_mm_cmpgt_epi8(index, three), _mm_cmplt_epi8(index, end));
    total = _mm_add_epi64(total, _mm_sad_epu8(_mm_and_si128(_mm_load_si128(p + i), keep), zero));
    index = _mm_add_epi8(index, _mm_set1_epi8(16));
  }
  return static_cast<std::uint32_t>(_mm_cvtsi128_si32(total) + _mm_extract_epi16(total, 4));
}

std::uint32_t LoadId(const std::uint8_t* ids, std::uint32_t k, int id_bytes) {
  std::uint32_t v;
  std::memcpy(&v, ids + static_cast<std::size_t>(k) * id_bytes, 4);  // tables carry 1 pad byte
  return id_bytes == 4 ? v : v & 0xFFFFFFu;
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

std::pair<std::uint32_t, std::uint32_t> MihIndex::BucketRange(const Table& table,
                                                              std::uint32_t bucket) const {
  const std::uint32_t line_index = bucket / kBucketsPerLine;
  const int k = static_cast<int>(bucket % kBucketsPerLine);
  const OffsetLine& line = table.lines[line_index];
  if (line.base & kWideFlag) {
    const std::uint32_t* wide = &table.wide[(line.base & ~kWideFlag) * (kBucketsPerLine + 1)];
    return {wide[k], wide[k + 1]};
  }
  const std::uint32_t begin = line.base + PrefixCount(&line, k);
  return {begin, begin + line.counts[k]};
}

MihIndex::Table MihIndex::MakeTable(const std::vector<std::uint32_t>& counts) const {
  Table table;
  const std::size_t lines = (counts.size() + kBucketsPerLine - 1) / kBucketsPerLine;
  table.lines.resize(lines);
  std::uint32_t offset = 0;
  for (std::size_t l = 0; l < lines; ++l) {
    OffsetLine& line = table.lines[l];
    std::memset(&line, 0, sizeof(line));
    const std::size_t first = l * kBucketsPerLine;
    const std::size_t last = std::min(counts.size(), first + kBucketsPerLine);
    const bool wide = std::any_of(counts.begin() + static_cast<std::ptrdiff_t>(first),
                                  counts.begin() + static_cast<std::ptrdiff_t>(last),
                                  [](std::uint32_t c) { return c >= 255; });
    if (wide) {
      line.base = kWideFlag | static_cast<std::uint32_t>(table.wide.size() / (kBucketsPerLine + 1));
      for (std::size_t b = first; b < first + kBucketsPerLine; ++b) {
        table.wide.push_back(offset);
        if (b < last) offset += counts[b];
      }
      table.wide.push_back(offset);
    } else {
      line.base = offset;
      for (std::size_t b = first; b < last; ++b) {
        line.counts[b - first] = static_cast<std::uint8_t>(counts[b]);
        offset += counts[b];
      }
    }
  }
  return table;
}

// Counting sort of positions by this chunk's bucket: the ids of each bucket are ascending.
void MihIndex::FillIds(int chunk, Table* table) const {
  const std::size_t n = size();
  const std::uint32_t buckets = 1u << table_bits_, mask = buckets - 1;
  std::vector<std::uint32_t> counts(buckets, 0);
  for (std::size_t i = 0; i < n; ++i) ++counts[SubCode(code(i), chunk) & mask];
  *table = MakeTable(counts);
  std::vector<std::uint32_t> next(buckets);
  for (std::uint32_t b = 0, offset = 0; b < buckets; ++b) {
    next[b] = offset;
    offset += counts[b];
  }
  table->ids.assign(n * id_bytes_ + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t at = next[SubCode(code(i), chunk) & mask]++;
    const auto position = static_cast<std::uint32_t>(i);
    std::memcpy(&table->ids[static_cast<std::size_t>(at) * id_bytes_], &position, id_bytes_);
  }
}

void MihIndex::Build(std::span<const std::uint8_t> codes, std::span<const std::uint32_t> labels,
                     int threads, std::vector<std::uint32_t>* order) {
  const std::size_t n = labels.size();
  FAISS_THROW_IF_NOT_MSG(codes.size() == n * kCodeBytes, "MihIndex: codes/labels size mismatch");
  FAISS_THROW_IF_NOT_MSG(n < kWideFlag, "MihIndex: too many codes");
  // Between one and two codes per bucket: enough buckets to keep candidates few, few enough to
  // keep the offset lines smaller than the id lists.
  const int min_bits = *std::min_element(chunk_bits_.begin(), chunk_bits_.end());
  table_bits_ = n < 2 ? 0 : std::min(static_cast<int>(std::bit_width(n)) - 1, min_bits);
  id_bytes_ = n <= (1u << 24) ? 3 : 4;
  const std::uint32_t buckets = 1u << table_bits_, mask = buckets - 1;
  tables_.assign(chunks(), Table{});

  // Chunk 0: sort the codes themselves by bucket, so that its buckets are ranges of positions.
  std::vector<std::uint32_t> counts(buckets, 0);
  for (std::size_t i = 0; i < n; ++i) ++counts[SubCode(&codes[i * kCodeBytes], 0) & mask];
  tables_[0] = MakeTable(counts);
  std::vector<std::uint32_t> next(buckets);
  for (std::uint32_t b = 0, offset = 0; b < buckets; ++b) {
    next[b] = offset;
    offset += counts[b];
  }
  codes_.assign(n * kCodeBytes, 0);
  labels_.assign(n, 0);
  if (order) order->assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t at = next[SubCode(&codes[i * kCodeBytes], 0) & mask]++;
    if (order) (*order)[at] = static_cast<std::uint32_t>(i);
    std::memcpy(&codes_[static_cast<std::size_t>(at) * kCodeBytes], &codes[i * kCodeBytes],
                kCodeBytes);
    labels_[at] = labels[i];
  }
  counts = {};
  next = {};

  // Chunks 1..m-1 are independent. Builds run in the background merger at a lower priority,
  // which threads of their own inherit.
  const int workers = std::clamp(threads, 1, chunks() - 1);
  sys::ParallelForOnNewThreads(workers, [this, workers](int w) {
    for (int c = 1 + w; c < chunks(); c += workers) FillIds(c, &tables_[c]);
  });
  ntotal = static_cast<idx_t>(n);
}

int MihIndex::FlipsFor(int chunk, int max_distance) const {
  // Pigeonhole, sharpened: with r = k * chunks + s (s < chunks), a code within r that matched
  // none of the first s + 1 chunks within k flips nor the others within k - 1 would differ by at
  // least (k + 1)(s + 1) + k (chunks - s - 1) = r + 1 bits. -1: the chunk is not probed at all.
  const int k = max_distance / chunks(), s = max_distance % chunks();
  return chunk <= s ? k : k - 1;
}

double MihIndex::ProbeCost(int max_distance) const {
  // Measured shape, in nanoseconds: a probe costs a few cache misses (offset line, ids), each
  // candidate one more (its code); a scan reads a code in about a nanosecond.
  double probes = 0;
  for (int c = 0; c < chunks(); ++c) {
    const int flips = FlipsFor(c, max_distance);
    if (flips >= 0) probes += BallSize(table_bits_, flips);
  }
  const double candidates = probes * static_cast<double>(size()) / (1u << table_bits_);
  return probes * 30 + candidates * 15;
}

bool MihIndex::ScansAt(int max_distance) const {
  return ProbeCost(max_distance) > static_cast<double>(size()) * 1.0;
}

void MihIndex::FindWithin(const std::uint8_t* query, int max_distance,
                          std::vector<std::uint32_t>* positions) const {
  if (size() == 0 || max_distance < 0) return;
  if (ScansAt(max_distance)) {
    ScanWithinOne(codes_.data(), size(), query, max_distance, positions);
    return;
  }
  // Three passes so that the cache misses of one pass overlap: bucket lines, then id lists,
  // then candidate codes, each prefetched a pass ahead.
  thread_local std::vector<std::uint32_t> buckets;
  thread_local std::vector<Probe> probes;
  thread_local std::vector<std::uint32_t> candidates;
  const std::uint32_t mask = (1u << table_bits_) - 1;
  probes.clear();
  for (int c = 0; c < chunks(); ++c) {
    const int flips = FlipsFor(c, max_distance);
    if (flips < 0) continue;
    const Table& table = tables_[c];
    buckets.clear();
    // Flips above table_bits_ land in the same bucket: enumerate only the bucket bits.
    ForEachWithinFlips(SubCode(query, c) & mask, table_bits_, flips, 0, [&](std::uint32_t b) {
      __builtin_prefetch(&table.lines[b / kBucketsPerLine]);
      buckets.push_back(b);
    });
    for (const std::uint32_t b : buckets) {
      const auto [begin, end] = BucketRange(table, b);
      if (begin == end) continue;
      probes.push_back({begin, end, c});
      __builtin_prefetch(c == 0 ? code(begin) : &table.ids[std::size_t{begin} * id_bytes_]);
    }
  }
  candidates.clear();
  for (const Probe& probe : probes) {
    if (probe.chunk == 0) {
      for (std::uint32_t k = probe.begin; k < probe.end; ++k) candidates.push_back(k);
      continue;
    }
    const std::uint8_t* ids = tables_[probe.chunk].ids.data();
    for (std::uint32_t k = probe.begin; k < probe.end; ++k) {
      const std::uint32_t position = LoadId(ids, k, id_bytes_);
      __builtin_prefetch(code(position));
      candidates.push_back(position);
    }
  }
  const std::size_t first = positions->size();
  for (const std::uint32_t position : candidates) {
    if (Distance256(query, code(position)) <= max_distance) positions->push_back(position);
  }
  // A code close on several chunks is found once per chunk.
  std::sort(positions->begin() + static_cast<std::ptrdiff_t>(first), positions->end());
  positions->erase(
      std::unique(positions->begin() + static_cast<std::ptrdiff_t>(first), positions->end()),
      positions->end());
}

std::size_t MihIndex::MemoryBytes() const {
  std::size_t bytes = codes_.capacity() + 4 * labels_.capacity();
  for (const Table& t : tables_) {
    bytes += t.lines.capacity() * sizeof(OffsetLine) + 4 * t.wide.capacity() + t.ids.capacity();
  }
  return bytes;
}

void MihIndex::add(int64_t n, const std::uint8_t* x) {
  FAISS_THROW_IF_NOT_MSG(ntotal + n < kWideFlag, "MihIndex: too many codes");
  std::vector<std::uint8_t> all(static_cast<std::size_t>(ntotal + n) * kCodeBytes);
  std::vector<std::uint32_t> labels(static_cast<std::size_t>(ntotal + n));
  for (std::uint32_t p = 0; p < size(); ++p) {
    std::memcpy(&all[std::size_t{label(p)} * kCodeBytes], code(p), kCodeBytes);
  }
  std::memcpy(&all[static_cast<std::size_t>(ntotal) * kCodeBytes], x,
              static_cast<std::size_t>(n) * kCodeBytes);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::uint32_t>(i);
  Build(all, labels, 1);
}

void MihIndex::reset() { Build({}, {}, 1); }

void MihIndex::range_search(int64_t n, const std::uint8_t* x, int radius,
                            faiss::RangeSearchResult* result,
                            const faiss::SearchParameters* /*params*/) const {
  std::vector<std::vector<std::uint32_t>> hits(n);
  for (int64_t q = 0; q < n; ++q) FindWithin(x + q * kCodeBytes, radius - 1, &hits[q]);
  // FAISS quirk: do_allocation() wants each query's *count* in lims[q] and turns lims into
  // offsets itself.
  for (int64_t q = 0; q < n; ++q) result->lims[q] = hits[q].size();
  result->do_allocation();
  for (int64_t q = 0; q < n; ++q) {
    std::size_t at = result->lims[q];
    for (const std::uint32_t position : hits[q]) {
      result->labels[at] = label(position);
      result->distances[at++] = static_cast<float>(Distance256(x + q * kCodeBytes, code(position)));
    }
  }
}

void MihIndex::search(int64_t n, const std::uint8_t* x, int64_t k, std::int32_t* distances,
                      int64_t* labels, const faiss::SearchParameters* /*params*/) const {
  for (int64_t q = 0; q < n; ++q) {
    std::priority_queue<std::pair<int, int64_t>> best;  // max-heap of the k best
    for (std::uint32_t p = 0; p < size(); ++p) {
      const std::pair<int, int64_t> item{Distance256(x + q * kCodeBytes, code(p)), label(p)};
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

}  // namespace hashmatch::index::internal

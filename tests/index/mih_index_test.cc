// MihIndex must return exactly what faiss::IndexBinaryFlat returns, for every radius.
#include "index/internal/mih_index.h"

#include <faiss/IndexBinaryFlat.h>
#include <faiss/impl/AuxIndexStructures.h>

#include <catch2/catch.hpp>
#include <random>
#include <set>

#include "index/internal/hamming_scan.h"

namespace hashmatch::index::internal {
namespace {

constexpr int kBytes = MihIndex::kCodeBytes;

std::vector<std::uint8_t> RandomCodes(std::mt19937_64& rng, int n) {
  std::vector<std::uint8_t> codes(static_cast<std::size_t>(n) * kBytes);
  for (auto& b : codes) b = static_cast<std::uint8_t>(rng());
  return codes;
}

// A copy of `code` with exactly `distance` distinct bits flipped.
std::vector<std::uint8_t> Flipped(std::mt19937_64& rng, const std::uint8_t* code, int distance) {
  std::vector<std::uint8_t> out(code, code + kBytes);
  std::vector<int> bits(256);
  for (int i = 0; i < 256; ++i) bits[i] = i;
  std::shuffle(bits.begin(), bits.end(), rng);
  for (int i = 0; i < distance; ++i)
    out[bits[i] / 8] ^= static_cast<std::uint8_t>(1 << (bits[i] % 8));
  return out;
}

using Hits = std::set<std::pair<int64_t, int>>;

Hits RangeOf(const faiss::IndexBinary& index, const std::uint8_t* query, int max_distance) {
  faiss::RangeSearchResult result(1);
  index.range_search(1, query, max_distance + 1, &result);  // FAISS keeps distance < radius
  Hits hits;
  for (std::size_t i = result.lims[0]; i < result.lims[1]; ++i) {
    hits.emplace(result.labels[i], static_cast<int>(result.distances[i]));
  }
  return hits;
}

// Builds both indexes over `codes`, queries with `queries`, compares every threshold.
void CheckAgainstFlat(const std::vector<std::uint8_t>& codes,
                      const std::vector<std::vector<std::uint8_t>>& queries, int chunks) {
  const int64_t n = static_cast<int64_t>(codes.size() / kBytes);
  faiss::IndexBinaryFlat flat(256);
  flat.add(n, codes.data());
  MihIndex mih(chunks);
  mih.add(n, codes.data());
  REQUIRE(mih.ntotal == n);
  std::size_t total_hits = 0;
  for (int threshold : {0, 1, 15, 31, 32, 50, 63}) {
    for (const auto& q : queries) {
      INFO("threshold " << threshold);
      const Hits expected = RangeOf(flat, q.data(), threshold);
      CHECK(RangeOf(mih, q.data(), threshold) == expected);
      std::vector<std::uint32_t> positions;
      mih.FindWithin(q.data(), threshold, &positions);
      Hits one;
      for (const std::uint32_t p : positions) {
        one.emplace(mih.label(p), Distance256(q.data(), mih.code(p)));
      }
      CHECK(one == expected);
      CHECK(std::is_sorted(positions.begin(), positions.end()));
      total_hits += expected.size();
    }
  }
  CHECK(total_hits > 0);  // the planted matches make every comparison meaningful
}

TEST_CASE("MIH equals IndexBinaryFlat on random codes with planted matches", "[index][mih]") {
  std::mt19937_64 rng(42);
  std::vector<std::uint8_t> codes = RandomCodes(rng, 20000);
  std::vector<std::vector<std::uint8_t>> queries;
  // Plant matches at every distance 0..40 (boundaries 31/32 included), plus random queries.
  for (int d = 0; d <= 40; ++d) {
    const std::uint8_t* target = &codes[static_cast<std::size_t>(rng() % 20000) * kBytes];
    queries.push_back(Flipped(rng, target, d));
  }
  for (int i = 0; i < 10; ++i) queries.push_back(RandomCodes(rng, 1));
  for (int chunks : {8, 11, 16}) {
    INFO("chunks " << chunks);
    CheckAgainstFlat(codes, queries, chunks);
  }
}

TEST_CASE("MIH equals IndexBinaryFlat on clustered codes", "[index][mih]") {
  // Real lists hold many near-identical images: 200 clusters of 50 codes within 0..20 bits.
  std::mt19937_64 rng(7);
  std::vector<std::uint8_t> codes;
  const std::vector<std::uint8_t> centres = RandomCodes(rng, 200);
  for (int c = 0; c < 200; ++c) {
    for (int i = 0; i < 50; ++i) {
      const auto member = Flipped(rng, &centres[c * kBytes], static_cast<int>(rng() % 21));
      codes.insert(codes.end(), member.begin(), member.end());
    }
  }
  std::vector<std::vector<std::uint8_t>> queries;
  for (int i = 0; i < 30; ++i) {
    queries.push_back(Flipped(rng, &centres[(rng() % 200) * kBytes], static_cast<int>(rng() % 40)));
  }
  CheckAgainstFlat(codes, queries, 11);
}

TEST_CASE("MIH handles crowded buckets around and far past the one-byte count limit",
          "[index][mih]") {
  // Bucket counts are one byte: a line holding a count of 255 or more moves to the wide table.
  // Exact copies of four codes fill their buckets with 254, 255, 256 and 3000 codes (plus a
  // flipped copy nearby); every copy must still be found.
  std::mt19937_64 rng(11);
  std::vector<std::uint8_t> codes = RandomCodes(rng, 5000);
  const std::vector<std::uint8_t> popular = RandomCodes(rng, 4);
  const int copies[] = {254, 255, 256, 3000};
  for (int p = 0; p < 4; ++p) {
    for (int i = 0; i < copies[p]; ++i) {
      codes.insert(codes.end(), &popular[p * kBytes], &popular[p * kBytes] + kBytes);
    }
    const auto nearby = Flipped(rng, &popular[p * kBytes], 1);
    codes.insert(codes.end(), nearby.begin(), nearby.end());
  }
  std::vector<std::vector<std::uint8_t>> queries;
  for (int p = 0; p < 4; ++p) {
    queries.emplace_back(&popular[p * kBytes], &popular[p * kBytes] + kBytes);
    queries.push_back(Flipped(rng, &popular[p * kBytes], 3));
  }
  queries.push_back(Flipped(rng, &codes[17 * kBytes], 20));
  CheckAgainstFlat(codes, queries, 11);
}

TEST_CASE("MIH k-NN search equals IndexBinaryFlat distances", "[index][mih]") {
  std::mt19937_64 rng(3);
  const std::vector<std::uint8_t> codes = RandomCodes(rng, 3000);
  faiss::IndexBinaryFlat flat(256);
  flat.add(3000, codes.data());
  MihIndex mih;
  mih.add(3000, codes.data());
  const std::vector<std::uint8_t> query = Flipped(rng, &codes[5 * kBytes], 9);
  std::vector<std::int32_t> d1(10), d2(10);
  std::vector<int64_t> l1(10), l2(10);
  flat.search(1, query.data(), 10, d1.data(), l1.data());
  mih.search(1, query.data(), 10, d2.data(), l2.data());
  CHECK(d1 == d2);
  CHECK(l2[0] == 5);
  CHECK(d2[0] == 9);
}

TEST_CASE("an empty MIH index finds nothing", "[index][mih]") {
  MihIndex mih;
  std::vector<std::uint8_t> query(kBytes, 0);
  std::vector<std::uint32_t> hits;
  mih.FindWithin(query.data(), 31, &hits);
  CHECK(hits.empty());
}

}  // namespace
}  // namespace hashmatch::index::internal

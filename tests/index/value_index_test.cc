// The store's in-memory value index: every inserted id is found through growth, and equal hashes
// (collisions) are all offered to the caller, who decides.
#include "index/internal/value_index.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

namespace hashmatch::index::internal {
namespace {

TEST_CASE("the value index finds every id through growth and offers all equal hashes",
          "[index][value_index]") {
  ValueIndex index;
  CHECK(index.FindIf(42, [](std::int64_t) { return true; }) == 0);  // empty
  std::mt19937_64 rng(3);
  std::map<std::uint64_t, std::set<std::int64_t>> inserted;
  for (std::int64_t id = 1; id <= 50'000; ++id) {
    // One in ten reuses an earlier hash: forced collisions, including across growth.
    const std::uint64_t hash =
        (id > 1 && id % 10 == 0) ? inserted.begin()->first + (id % 3) : rng();
    index.Insert(hash, id);
    inserted[hash].insert(id);
  }
  CHECK(index.size() == 50'000);
  for (const auto& [hash, ids] : inserted) {
    std::set<std::int64_t> offered;
    CHECK(index.FindIf(hash, [&](std::int64_t id) { return !offered.insert(id).second; }) == 0);
    CHECK(offered == ids);
    const std::int64_t wanted = *ids.rbegin();
    CHECK(index.FindIf(hash, [&](std::int64_t id) { return id == wanted; }) == wanted);
  }
  CHECK(index.FindIf(ValueIndex::Hash(Signal::kMd5, "absent"), [](std::int64_t) { return true; }) ==
        0);
  CHECK(ValueIndex::Hash(Signal::kMd5, "x") != ValueIndex::Hash(Signal::kSha1, "x"));
  index.Clear();
  CHECK(index.size() == 0);
  CHECK(index.FindIf(inserted.begin()->first, [](std::int64_t) { return true; }) == 0);
}

}  // namespace
}  // namespace hashmatch::index::internal

// store_writer: the process durability_test kills. It adds deterministic batches (batch b holds
// kBatchItems PDQ values from seed b) to a store, following them with a Matcher that writes
// snapshots, and prints "ack <batch> <seq>" only after each commit returned.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "index/matcher.h"
#include "index/store.h"
#include "tests/index/index_test_util.h"

namespace {
constexpr int kBatchItems = 200;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: store_writer STORE SNAPSHOT FIRST_BATCH\n");
    return 2;
  }
  using namespace hashmatch::index;
  auto store = OpenSqliteStore(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  MatcherOptions options;
  options.snapshot_path = argv[2];
  options.log = [](std::string_view) {};
  auto matcher = Matcher::Open(store->get(), options);
  if (!matcher.ok()) {
    std::fprintf(stderr, "%s\n", std::string(matcher.status().message()).c_str());
    return 1;
  }
  for (long batch = std::atol(argv[3]);; ++batch) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(batch));
    std::vector<NewDescriptor> items;
    for (int i = 0; i < kBatchItems; ++i) {
      items.push_back(testing::Pdq(testing::RandomBytes(rng, 32)));
    }
    const auto added = (*store)->Add(testing::Police(), items);
    if (!added.ok()) return 1;
    std::printf("ack %ld %lld\n", batch, static_cast<long long>(added->commit_seq));
    std::fflush(stdout);
    if (!(*matcher)->CatchUp().ok()) return 1;
    if (batch % 5 == 0 && !(*matcher)->WriteSnapshot().ok()) return 1;
  }
}

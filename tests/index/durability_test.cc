// Kills a writer (tests/index/store_writer.cc) with SIGKILL mid-ingest, again and again, then
// checks that every acknowledged batch is in the store, that no batch is there in part, and that
// a Matcher opened afterwards (from whatever snapshot the writer left) agrees with the store.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <thread>

#include "index/matcher.h"
#include "index/store.h"
#include "tests/index/index_test_util.h"
#include "tests/testing/temp_dir.h"

namespace hashmatch::index {
namespace {

constexpr int kBatchItems = 200;  // as in store_writer.cc

std::vector<std::string> BatchValues(long batch) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(batch));
  std::vector<std::string> values;
  for (int i = 0; i < kBatchItems; ++i) values.push_back(testing::RandomBytes(rng, 32));
  return values;
}

// Runs the writer from `first_batch`, kills it after `run_for`, returns the acknowledged batches.
std::vector<long> RunAndKill(const std::string& store, const std::string& snapshot,
                             long first_batch, std::chrono::milliseconds run_for) {
  int out[2];
  REQUIRE(pipe(out) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    close(out[0]);
    const std::string binary = std::string(HM_TEST_BIN_DIR) + "/store_writer";
    const std::string first = std::to_string(first_batch);
    execl(binary.c_str(), binary.c_str(), store.c_str(), snapshot.c_str(), first.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  // The clock starts at the first acknowledgement: opening a large store takes longer on a
  // loaded machine, and a kill before any commit would test nothing.
  std::vector<long> acked;
  FILE* lines = fdopen(out[0], "r");
  long batch = 0;
  long long seq = 0;
  pollfd ready{out[0], POLLIN, 0};
  if (poll(&ready, 1, 120'000) == 1 && std::fscanf(lines, "ack %ld %lld\n", &batch, &seq) == 2) {
    acked.push_back(batch);
  }
  std::this_thread::sleep_for(run_for);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFSIGNALED(status));  // still writing when killed, not exited on an error
  while (std::fscanf(lines, "ack %ld %lld\n", &batch, &seq) == 2) acked.push_back(batch);
  std::fclose(lines);
  return acked;
}

TEST_CASE("acknowledged batches survive SIGKILL and index and store agree after restart",
          "[index][durability]") {
  hashmatch::testing::TempDir dir;
  const std::string store_path = dir.File("store.db"), snapshot = dir.File("index.snapshot");
  std::mt19937_64 rng(31);
  std::set<long> acked;
  long next = 1;
  for (int round = 0; round < 6; ++round) {
    const auto run_for = std::chrono::milliseconds(300 + rng() % 700);
    const std::vector<long> got = RunAndKill(store_path, snapshot, next, run_for);
    INFO("round " << round << ": " << got.size() << " batches acknowledged");
    CHECK_FALSE(got.empty());
    acked.insert(got.begin(), got.end());
    if (!got.empty()) next = got.back() + 1;
  }
  auto store = *OpenSqliteStore(store_path);
  for (const long batch : acked) {
    for (const std::string& value : BatchValues(batch)) {
      const auto found = store->Find(Signal::kPdq, value);
      REQUIRE(found.ok());
      REQUIRE(found->has_value());
    }
  }
  // All-or-nothing: whole batches only (an unacknowledged batch may or may not have committed).
  const std::int64_t stored = (*store->Counts())[0].count;
  CHECK(stored % kBatchItems == 0);
  CHECK(stored >= static_cast<std::int64_t>(acked.size()) * kBatchItems);

  std::vector<std::string> logs;
  MatcherOptions options;
  options.snapshot_path = snapshot;
  options.background_merge = false;
  options.log = [&](std::string_view line) { logs.emplace_back(line); };
  auto matcher = *Matcher::Open(store.get(), options);
  // The writer wrote a snapshot every 5 batches, atomically: whatever the kills interrupted, the
  // file left is a whole one, and it is loaded (then the log replayed), never refused.
  REQUIRE_FALSE(logs.empty());
  INFO(logs.front());
  CHECK(logs.front().rfind("loaded snapshot at seq ", 0) == 0);
  for (const std::string& line : logs) CHECK(line.find("rebuilding") == std::string::npos);
  CHECK(matcher->Stats().snapshot_seq > 0);
  CHECK(matcher->Stats().entries[0] == static_cast<std::size_t>(stored));
  CHECK(matcher->Stats().applied_seq == *store->LastSeq());
  for (const long batch : acked) {
    for (const std::string& value : BatchValues(batch)) {
      const auto matches = *matcher->MatchPdq(testing::AsPdq(value), MatchOptions{0});
      REQUIRE(matches.size() == 1);
    }
  }
}

}  // namespace
}  // namespace hashmatch::index

// index/internal/matcher_impl: Matcher's state and Matcher::Impl, shared by the files that
// implement it: matcher.cc (opening, queries), matcher_apply.cc (applying the store's log,
// rebuilds, snapshots) and matcher_merge.cc (the background merger). Internal to index/.
//
// Locks, in the order they may nest: merge_run_mu (one merge step at a time) -> write_mu (every
// change to what readers see: CatchUp, a merge's swap) -> state_mu (held only to copy or replace
// the State pointer). Readers take state_mu for a pointer copy and nothing else.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/sys/sys.h"
#include "index/internal/segment.h"
#include "index/matcher.h"

namespace hashmatch::index {

using internal::Segment;
using internal::SegmentInput;
using internal::Tail;
using internal::TailBlock;
inline constexpr std::size_t kSlots = internal::kIndexedSignals.size();

using MatcherClock = std::chrono::steady_clock;
inline constexpr std::size_t kCatchUpPage = 20'000;
// A state with this many changes not yet in a snapshot gets one when the merger is idle.
inline constexpr std::int64_t kSnapshotAfterChanges = 10'000;
inline constexpr auto kIdleAfter = std::chrono::milliseconds(500);
inline constexpr int kMergerNice = 10;
// Queries a batch worker takes at a time (and scans together when the radius calls for a scan).
inline constexpr std::size_t kBatchUnit = 16;

struct Entry {
  const std::uint8_t* value;  // EntryBytes(signal) bytes, inside the Change's value
  bool low;                   // below the quality floor
};

struct SignalState {
  std::vector<std::shared_ptr<const Segment>> segments;  // oldest first
  Tail tail;
};

struct State {
  std::array<SignalState, kSlots> signals;
  std::int64_t applied_seq = 0;
};

inline bool Matchable(std::uint8_t flags, const MatchOptions& options) {
  if ((flags & internal::kLowQualityFlag) && !options.include_low_quality) return false;
  switch (internal::FlagsStatus(flags)) {
    case DescriptorStatus::kVerified:
      return true;
    case DescriptorStatus::kCandidate:
      return options.include_candidates;
    default:
      return false;
  }
}

inline Match MakeMatch(std::uint32_t label, int distance, std::uint8_t flags) {
  return {label, distance, internal::FlagsStatus(flags), (flags & internal::kLowQualityFlag) != 0};
}

[[nodiscard]] inline absl::Status CheckDistance(const MatchOptions& options) {
  if (options.max_distance < 0 || options.max_distance > MatchOptions::kMaxMaxDistance) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_distance ", options.max_distance, " is outside 0..", MatchOptions::kMaxMaxDistance));
  }
  return absl::OkStatus();
}

// Appends the entries of the tail's first `blocks` blocks to `input`, with their live flags.
void GatherTail(const Tail& tail, std::size_t blocks, int width, SegmentInput* input);
// Appends a segment's entries to `input`, with their flags.
void GatherSegment(const Segment& segment, SegmentInput* input);

// Adds one entry at the end of a signal's tail (a new block when the last is full).
void AppendToTail(Tail& tail, int width, const std::uint8_t* value, std::uint32_t label,
                  std::uint8_t flags);

struct Matcher::Impl {
  Store* store = nullptr;
  MatcherOptions options;
  int threads = 1;

  // std::mutex rather than absl::Mutex: ThreadSanitizer sees through pthread mutexes, not
  // through a prebuilt Abseil.
  mutable std::mutex state_mu;
  std::shared_ptr<const State> state;  // guarded by state_mu
  std::mutex write_mu;
  std::mutex merge_run_mu;

  std::mutex merge_mu;
  std::condition_variable merge_cv;
  bool stop = false;                                        // guarded by merge_mu
  MatcherClock::time_point last_add = MatcherClock::now();  // guarded by merge_mu
  std::thread merger;

  std::atomic<std::int64_t> merges{0};
  std::atomic<std::int64_t> snapshot_seq{-1};
  std::mutex snapshot_mu;

  std::shared_ptr<const State> Current() const {
    std::lock_guard lock(state_mu);
    return state;
  }
  void Publish(std::shared_ptr<const State> next) {
    std::lock_guard lock(state_mu);
    state = std::move(next);
  }
  void Log(const std::string& line) const {
    if (options.log) {
      options.log(line);
    } else {
      sys::Log("info", line, {{"module", "index"}});
    }
  }

  [[nodiscard]] absl::StatusOr<std::vector<Entry>> Entries(const Change& change) const;
  [[nodiscard]] absl::Status Apply(State& next, const Change& change);
  [[nodiscard]] absl::StatusOr<std::int64_t> CatchUp();
  [[nodiscard]] absl::Status Rebuild();
  [[nodiscard]] absl::Status LoadSnapshot();
  [[nodiscard]] absl::Status WriteSnapshot();
  bool MergeOnce(bool idle);
  void MergeRun(std::size_t slot, std::size_t first, std::size_t tail_blocks, const State& planned);
  void MergerLoop();
  void FindPdq(const State& s, std::size_t slot, const std::uint8_t* queries, std::size_t count,
               const MatchOptions& options, std::vector<Match>* out) const;
  [[nodiscard]] absl::StatusOr<std::vector<std::vector<Match>>> FindPdqBatch(
      std::size_t slot, std::span<const Pdq256> hashes, const MatchOptions& options) const;
};

}  // namespace hashmatch::index

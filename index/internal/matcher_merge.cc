// Matcher: the background merger that seals tail blocks into segments (see
// index/internal/matcher_impl.h for the locks).
#include <sys/resource.h>
#include <unistd.h>

#include "index/internal/matcher_impl.h"

namespace hashmatch::index {

// Appends the entries of the tail's first `blocks` blocks to `input`, with their live flags.
void GatherTail(const Tail& tail, std::size_t blocks, int width, SegmentInput* input) {
  for (std::size_t b = 0; b < blocks; ++b) {
    const TailBlock& block = *tail.blocks[b];
    const std::size_t n = tail.in_block(b);
    input->values.insert(input->values.end(), block.values.begin(),
                         block.values.begin() + static_cast<std::ptrdiff_t>(n * width));
    input->labels.insert(input->labels.end(), block.labels.begin(),
                         block.labels.begin() + static_cast<std::ptrdiff_t>(n));
    for (std::size_t i = 0; i < n; ++i) {
      input->flags.push_back(block.flags[i].load(std::memory_order_relaxed));
    }
  }
}

void GatherSegment(const Segment& segment, SegmentInput* input) {
  const std::size_t n = segment.size();
  input->values.insert(input->values.end(), segment.values(),
                       segment.values() + n * static_cast<std::size_t>(segment.width()));
  for (std::uint32_t p = 0; p < n; ++p) {
    input->labels.push_back(segment.label(p));
    input->flags.push_back(segment.flags(p));
  }
}

// Merge policy per signal: seal the tail's full blocks into a segment, folding in the newest
// segments while they are at most twice what is being merged (so sizes grow geometrically and a
// value is re-merged O(log n) times); when writes pause, merge everything into one segment.
bool Matcher::Impl::MergeOnce(bool idle) {
  const std::shared_ptr<const State> s = Current();
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    const SignalState& ss = s->signals[slot];
    const std::size_t full_blocks = ss.tail.count / TailBlock::kCapacity;
    std::size_t first = ss.segments.size();
    if (full_blocks > 0) {
      std::size_t merging = full_blocks * TailBlock::kCapacity;
      while (first > 0 && (idle || 2 * merging >= ss.segments[first - 1]->size())) {
        merging += ss.segments[--first]->size();
      }
    } else if (idle && ss.segments.size() > 1) {
      first = 0;
    } else {
      continue;
    }
    MergeRun(slot, first, full_blocks, *s);
    return true;
  }
  return false;
}

void Matcher::Impl::MergeRun(std::size_t slot, std::size_t first, std::size_t tail_blocks,
                             const State& planned) {
  const Signal signal = internal::kIndexedSignals[slot];
  const int width = internal::EntryBytes(signal);
  const auto gather = [&](const SignalState& ss) {
    SegmentInput input;
    for (std::size_t i = first; i < ss.segments.size(); ++i) GatherSegment(*ss.segments[i], &input);
    GatherTail(ss.tail, tail_blocks, width, &input);
    return input;
  };
  const auto started = MatcherClock::now();
  std::vector<std::uint32_t> order;
  const std::shared_ptr<const Segment> merged =
      Segment::Build(signal, gather(planned.signals[slot]), threads, &order);
  {
    std::lock_guard lock(write_mu);
    // Only this merger changes segments and removes tail blocks, so the latest state still holds
    // the inputs; take their flags again to keep status changes made while building.
    const std::shared_ptr<const State> latest = Current();
    const std::vector<std::uint8_t> flags = gather(latest->signals[slot]).flags;
    for (std::uint32_t p = 0; p < merged->size(); ++p) merged->set_flags(p, flags[order[p]]);
    auto next = std::make_shared<State>(*latest);
    SignalState& ns = next->signals[slot];
    ns.segments.resize(first);
    ns.segments.push_back(merged);
    ns.tail.blocks.erase(ns.tail.blocks.begin(),
                         ns.tail.blocks.begin() + static_cast<std::ptrdiff_t>(tail_blocks));
    ns.tail.count -= tail_blocks * TailBlock::kCapacity;
    Publish(std::move(next));
  }
  ++merges;
  const double seconds = std::chrono::duration<double>(MatcherClock::now() - started).count();
  if (seconds > 1.0) {
    Log(absl::StrCat("merged ", merged->size(), " ", SignalName(signal), " entries in ",
                     static_cast<int>(seconds * 1000), " ms"));
  }
}

void Matcher::Impl::MergerLoop() {
  // Merges are background work: at a lower priority (inherited by the build threads it starts),
  // they take the cores when lookups and ingest leave them idle instead of competing with them.
  // Nothing waits on a merge: new entries are matchable from the tail meanwhile.
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), kMergerNice) != 0) {
    Log("merger keeps normal priority: setpriority failed");
  }
  while (true) {
    bool idle = false;
    {
      std::unique_lock lock(merge_mu);
      merge_cv.wait_for(lock, std::chrono::milliseconds(200), [this] { return stop; });
      if (stop) return;
      idle = MatcherClock::now() - last_add >= kIdleAfter;
    }
    bool merged = false;
    {
      std::lock_guard run(merge_run_mu);
      merged = MergeOnce(idle);
    }
    if (merged || !idle || options.snapshot_path.empty()) continue;
    const std::int64_t applied = Current()->applied_seq;
    if (applied - snapshot_seq.load() >= kSnapshotAfterChanges) {
      const absl::Status written = WriteSnapshot();
      if (!written.ok()) Log("snapshot not written: " + std::string(written.message()));
    }
  }
}

}  // namespace hashmatch::index

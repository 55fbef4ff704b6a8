// Matcher: segments + tail per signal behind an atomically swapped immutable State (matcher.h).
//
// Locks, in the order they may nest: merge_run_mu (one merge step at a time) -> write_mu (every
// change to what readers see: CatchUp, a merge's swap) -> state_mu (held only to copy or replace
// the State pointer). Readers take state_mu for a pointer copy and nothing else.
#include "index/matcher.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "index/internal/hamming_scan.h"
#include "index/internal/segment.h"
#include "index/internal/snapshot_file.h"
#include "index/internal/video_match.h"

namespace hashmatch::index {

using internal::Segment;
using internal::SegmentInput;
using internal::Tail;
using internal::TailBlock;
constexpr std::size_t kSlots = internal::kIndexedSignals.size();

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kCatchUpPage = 20'000;
// A state with this many changes not yet in a snapshot gets one when the merger is idle.
constexpr std::int64_t kSnapshotAfterChanges = 10'000;
constexpr auto kIdleAfter = std::chrono::milliseconds(500);
constexpr int kMergerNice = 10;
// Queries a batch worker takes at a time (and scans together when the radius calls for a scan).
constexpr std::size_t kBatchUnit = 16;

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

bool Matchable(std::uint8_t flags, const MatchOptions& options) {
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

Match MakeMatch(std::uint32_t label, int distance, std::uint8_t flags) {
  return {label, distance, internal::FlagsStatus(flags), (flags & internal::kLowQualityFlag) != 0};
}

absl::Status CheckDistance(const MatchOptions& options) {
  if (options.max_distance < 0 || options.max_distance > MatchOptions::kMaxMaxDistance) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_distance ", options.max_distance, " is outside 0..", MatchOptions::kMaxMaxDistance));
  }
  return absl::OkStatus();
}

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

void AppendToTail(Tail& tail, int width, const std::uint8_t* value, std::uint32_t label,
                  std::uint8_t flags) {
  const std::size_t b = tail.count / TailBlock::kCapacity, i = tail.count % TailBlock::kCapacity;
  if (b == tail.blocks.size()) tail.blocks.push_back(std::make_shared<TailBlock>(width));
  TailBlock& block = *tail.blocks[b];
  std::memcpy(&block.values[i * width], value, width);
  block.labels[i] = label;
  block.flags[i].store(flags, std::memory_order_relaxed);
  ++tail.count;
}

}  // namespace

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
  bool stop = false;                          // guarded by merge_mu
  Clock::time_point last_add = Clock::now();  // guarded by merge_mu
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
      std::fprintf(stderr, "hashmatch index: %s\n", line.c_str());
    }
  }

  absl::StatusOr<std::vector<Entry>> Entries(const Change& change) const;
  absl::Status Apply(State& next, const Change& change);
  absl::StatusOr<std::int64_t> CatchUp();
  absl::Status Rebuild();
  absl::Status LoadSnapshot();
  absl::Status WriteSnapshot();
  bool MergeOnce(bool idle);
  void MergeRun(std::size_t slot, std::size_t first, std::size_t tail_blocks, const State& planned);
  void MergerLoop();
  void FindPdq(const State& s, std::size_t slot, const std::uint8_t* queries, std::size_t count,
               const MatchOptions& options, std::vector<Match>* out) const;
  absl::StatusOr<std::vector<std::vector<Match>>> FindPdqBatch(std::size_t slot,
                                                               std::span<const Pdq256> hashes,
                                                               const MatchOptions& options) const;
};

// The index entries of one stored descriptor: its value, or for a video each distinct frame PDQ
// (flagged low-quality per frame).
absl::StatusOr<std::vector<Entry>> Matcher::Impl::Entries(const Change& change) const {
  std::vector<Entry> entries;
  if (change.signal != Signal::kVpdq) {
    if (change.value.size() != SignalValueBytes(change.signal)) {
      return absl::DataLossError(absl::StrCat("descriptor ", change.id, ": ",
                                              SignalName(change.signal), " value of ",
                                              change.value.size(), " bytes"));
    }
    const bool low = change.signal == Signal::kPdq && change.quality < options.quality_floor;
    entries.push_back({reinterpret_cast<const std::uint8_t*>(change.value.data()), low});
    return entries;
  }
  absl::StatusOr<std::vector<VpdqFeature>> frames = DecodeVpdq(change.value);
  if (!frames.ok()) {
    return absl::DataLossError(
        absl::StrCat("descriptor ", change.id, ": ", std::string(frames.status().message())));
  }
  // Offsets into change.value of each distinct frame PDQ, best quality kept.
  std::vector<std::pair<std::size_t, int>> distinct;
  for (std::size_t i = 0; i < frames->size(); ++i) {
    distinct.emplace_back(1 + i * kVpdqFrameBytes + 5, (*frames)[i].quality);
  }
  const auto* base = reinterpret_cast<const std::uint8_t*>(change.value.data());
  std::sort(distinct.begin(), distinct.end(), [&](const auto& a, const auto& b) {
    const int c = std::memcmp(base + a.first, base + b.first, 32);
    return c != 0 ? c < 0 : a.second > b.second;
  });
  for (std::size_t i = 0; i < distinct.size(); ++i) {
    if (i > 0 && std::memcmp(base + distinct[i].first, base + distinct[i - 1].first, 32) == 0) {
      continue;
    }
    entries.push_back({base + distinct[i].first, distinct[i].second < options.quality_floor});
  }
  return entries;
}

absl::Status Matcher::Impl::Apply(State& next, const Change& change) {
  const int slot = internal::SignalSlot(change.signal);
  if (slot < 0) return absl::OkStatus();  // PhotoDNA lives in the store only
  if (change.id <= 0 || change.id > UINT32_MAX) {
    return absl::OutOfRangeError(
        absl::StrCat("descriptor id ", change.id, " is outside the index's 32-bit id range"));
  }
  HM_ASSIGN_OR_RETURN(const std::vector<Entry> entries, Entries(change));
  const int width = internal::EntryBytes(change.signal);
  const auto label = static_cast<std::uint32_t>(change.id);
  SignalState& s = next.signals[slot];
  if (change.kind == Change::Kind::kAdded) {
    for (const Entry& e : entries) {
      AppendToTail(s.tail, width, e.value, label, internal::MakeFlags(change.status, e.low));
    }
    return absl::OkStatus();
  }
  // A status change: flip the flag where the entries live, visible to every state sharing them.
  std::vector<std::uint32_t> positions;
  for (const auto& segment : s.segments) {
    for (const Entry& e : entries) {
      positions.clear();
      segment->Find(e.value, 0, &positions);
      for (const std::uint32_t p : positions) {
        if (segment->label(p) == label) {
          segment->set_flags(p, internal::WithStatus(segment->flags(p), change.status));
        }
      }
    }
  }
  for (std::size_t b = 0; b < s.tail.blocks.size(); ++b) {
    TailBlock& block = *s.tail.blocks[b];
    for (std::size_t i = 0; i < s.tail.in_block(b); ++i) {
      if (block.labels[i] == label) {
        block.flags[i].store(
            internal::WithStatus(block.flags[i].load(std::memory_order_relaxed), change.status),
            std::memory_order_relaxed);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::int64_t> Matcher::Impl::CatchUp() {
  std::lock_guard lock(write_mu);
  const std::shared_ptr<const State> current = Current();
  auto next = std::make_shared<State>(*current);
  bool added = false;
  while (true) {
    HM_ASSIGN_OR_RETURN(const std::vector<Change> changes,
                        store->ChangesAfter(next->applied_seq, kCatchUpPage));
    if (changes.empty()) break;
    for (const Change& change : changes) {
      HM_RETURN_IF_ERROR(Apply(*next, change));
      added |= change.kind == Change::Kind::kAdded;
      next->applied_seq = change.seq;
    }
  }
  const std::int64_t applied = next->applied_seq;
  if (applied != current->applied_seq) Publish(std::move(next));
  if (added) {
    std::lock_guard merge_lock(merge_mu);
    last_add = Clock::now();
    merge_cv.notify_one();
  }
  return applied;
}

absl::Status Matcher::Impl::Rebuild() {
  std::array<SegmentInput, kSlots> inputs;
  std::size_t skipped = 0;
  HM_ASSIGN_OR_RETURN(const std::int64_t seq, store->ScanAll([&](const Change& c) {
    const int slot = internal::SignalSlot(c.signal);
    if (slot < 0) return;
    const absl::StatusOr<std::vector<Entry>> entries = Entries(c);
    if (c.id > UINT32_MAX || !entries.ok()) {
      ++skipped;
      return;
    }
    SegmentInput& in = inputs[slot];
    const int width = internal::EntryBytes(c.signal);
    for (const Entry& e : *entries) {
      in.values.insert(in.values.end(), e.value, e.value + width);
      in.labels.push_back(static_cast<std::uint32_t>(c.id));
      in.flags.push_back(internal::MakeFlags(c.status, e.low));
    }
  }));
  if (skipped > 0) {
    return absl::DataLossError(absl::StrCat(skipped, " stored descriptors cannot be indexed"));
  }
  auto next = std::make_shared<State>();
  next->applied_seq = seq;
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    if (inputs[slot].labels.empty()) continue;
    std::vector<std::uint32_t> order;
    next->signals[slot].segments.push_back(
        Segment::Build(internal::kIndexedSignals[slot], inputs[slot], threads, &order));
  }
  Publish(std::move(next));
  return absl::OkStatus();
}

absl::Status Matcher::Impl::LoadSnapshot() {
  HM_ASSIGN_OR_RETURN(internal::SnapshotContents contents,
                      internal::ReadSnapshotFile(options.snapshot_path));
  HM_ASSIGN_OR_RETURN(const std::int64_t last_seq, store->LastSeq());
  const std::string name = "snapshot " + options.snapshot_path;
  if (contents.store_id != store->store_id()) {
    return absl::FailedPreconditionError(name + " was made from another store");
  }
  if (contents.quality_floor != options.quality_floor) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, " was made with quality floor ", contents.quality_floor));
  }
  if (contents.applied_seq > last_seq) {
    return absl::FailedPreconditionError(absl::StrCat(name, " is ahead of the store (seq ",
                                                      contents.applied_seq, " > ", last_seq, ")"));
  }
  auto next = std::make_shared<State>();
  next->applied_seq = contents.applied_seq;
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    next->signals[slot].segments = std::move(contents.segments[slot]);
    const SegmentInput& tail = contents.tails[slot];
    const int width = internal::EntryBytes(internal::kIndexedSignals[slot]);
    for (std::size_t i = 0; i < tail.labels.size(); ++i) {
      AppendToTail(next->signals[slot].tail, width, &tail.values[i * width], tail.labels[i],
                   tail.flags[i]);
    }
  }
  snapshot_seq = contents.applied_seq;
  Publish(std::move(next));
  return absl::OkStatus();
}

absl::Status Matcher::Impl::WriteSnapshot() {
  if (options.snapshot_path.empty()) {
    return absl::FailedPreconditionError("no snapshot path configured");
  }
  std::lock_guard lock(snapshot_mu);
  // Flags read while writing may be newer than applied_seq; replaying the log after it sets
  // them again (status changes are idempotent), so the file stays consistent.
  const std::shared_ptr<const State> s = Current();
  internal::SnapshotContents contents;
  contents.store_id = store->store_id();
  contents.applied_seq = s->applied_seq;
  contents.quality_floor = options.quality_floor;
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    contents.segments[slot] = s->signals[slot].segments;
    const Tail& tail = s->signals[slot].tail;
    GatherTail(tail, tail.blocks.size(), internal::EntryBytes(internal::kIndexedSignals[slot]),
               &contents.tails[slot]);
  }
  HM_RETURN_IF_ERROR(internal::WriteSnapshotFile(options.snapshot_path, contents));
  snapshot_seq = s->applied_seq;
  return absl::OkStatus();
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
  const auto started = Clock::now();
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
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
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
      idle = Clock::now() - last_add >= kIdleAfter;
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

// Answers `count` queries (32 bytes each, contiguous) into out[0..count). A segment for which the
// radius is too large to probe is scanned once for all the queries (cache-blocked), not once each.
void Matcher::Impl::FindPdq(const State& s, std::size_t slot, const std::uint8_t* queries,
                            std::size_t count, const MatchOptions& opts,
                            std::vector<Match>* out) const {
  // Per-thread scratch: a lookup allocates only for its results.
  thread_local std::vector<std::vector<std::uint32_t>> positions;
  if (positions.size() < count) positions.resize(count);
  auto collect = [&](std::size_t q, std::uint32_t label, const std::uint8_t* value,
                     std::uint8_t flags) {
    if (Matchable(flags, opts)) {
      out[q].push_back(MakeMatch(label, internal::Distance256(queries + q * 32, value), flags));
    }
  };
  for (const auto& segment : s.signals[slot].segments) {
    for (auto& p : positions) p.clear();
    if (count > 1 && segment->ScansAt(opts.max_distance)) {
      internal::ScanWithin(segment->values(), segment->size(), queries, count, opts.max_distance,
                           &positions);  // fills positions[0..count)
    } else {
      for (std::size_t q = 0; q < count; ++q) {
        segment->Find(queries + q * 32, opts.max_distance, &positions[q]);
      }
    }
    for (std::size_t q = 0; q < count; ++q) {
      for (const std::uint32_t p : positions[q]) {
        collect(q, segment->label(p), segment->value(p), segment->flags(p));
      }
    }
  }
  const Tail& tail = s.signals[slot].tail;
  for (std::size_t b = 0; b < tail.blocks.size(); ++b) {
    const TailBlock& block = *tail.blocks[b];
    for (auto& p : positions) p.clear();
    internal::ScanWithin(block.values.data(), tail.in_block(b), queries, count, opts.max_distance,
                         &positions);
    for (std::size_t q = 0; q < count; ++q) {
      for (const std::uint32_t i : positions[q]) {
        collect(q, block.labels[i], &block.values[std::size_t{i} * 32],
                block.flags[i].load(std::memory_order_relaxed));
      }
    }
  }
  for (std::size_t q = 0; q < count; ++q) {
    std::sort(out[q].begin(), out[q].end(), [](const Match& a, const Match& b) {
      return std::tie(a.distance, a.id) < std::tie(b.distance, b.id);
    });
  }
}

Matcher::Matcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Matcher::~Matcher() {
  {
    std::lock_guard lock(impl_->merge_mu);
    impl_->stop = true;
  }
  impl_->merge_cv.notify_one();
  if (impl_->merger.joinable()) impl_->merger.join();
}

absl::StatusOr<std::unique_ptr<Matcher>> Matcher::Open(Store* store, MatcherOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->store = store;
  impl->options = std::move(options);
  impl->threads = impl->options.threads > 0
                      ? impl->options.threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl->Publish(std::make_shared<State>());
  const auto started = Clock::now();
  bool loaded = false;
  if (!impl->options.snapshot_path.empty()) {
    const absl::Status status = impl->LoadSnapshot();
    loaded = status.ok();
    if (!loaded && !absl::IsNotFound(status)) {
      impl->Log(std::string(status.message()) + "; rebuilding from the store");
    }
  }
  if (!loaded) HM_RETURN_IF_ERROR(impl->Rebuild());
  const std::int64_t start_seq = impl->Current()->applied_seq;
  Matcher* raw = new Matcher(std::move(impl));
  std::unique_ptr<Matcher> matcher(raw);
  HM_ASSIGN_OR_RETURN(const std::int64_t applied, matcher->impl_->CatchUp());
  matcher->impl_->Log(absl::StrCat(
      loaded ? "loaded snapshot" : "built from the store", " at seq ", start_seq, ", replayed to ",
      applied, " in ",
      static_cast<int>(std::chrono::duration<double>(Clock::now() - started).count() * 1000),
      " ms"));
  if (matcher->impl_->options.background_merge) {
    matcher->impl_->merger = std::thread([m = matcher->impl_.get()] { m->MergerLoop(); });
  }
  return matcher;
}

absl::StatusOr<std::int64_t> Matcher::CatchUp() { return impl_->CatchUp(); }

absl::StatusOr<std::vector<Match>> Matcher::MatchPdq(const Pdq256& hash,
                                                     const MatchOptions& options) const {
  HM_RETURN_IF_ERROR(CheckDistance(options));
  std::vector<Match> out;
  impl_->FindPdq(*impl_->Current(), 0, hash.bytes.data(), 1, options, &out);
  return out;
}

absl::StatusOr<std::vector<std::vector<Match>>> Matcher::Impl::FindPdqBatch(
    std::size_t slot, std::span<const Pdq256> hashes, const MatchOptions& match) const {
  HM_RETURN_IF_ERROR(CheckDistance(match));
  const std::shared_ptr<const State> s = Current();
  std::vector<std::vector<Match>> out(hashes.size());
  const int workers = static_cast<int>(std::min<std::size_t>(threads, (hashes.size() + 31) / 32));
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    // Small work units, taken in turn, keep both cores busy when some queries cost more.
    // (Pdq256 is exactly its 32 bytes, so a span of them is contiguous codes.)
    static_assert(sizeof(Pdq256) == 32);
    for (std::size_t begin; (begin = next.fetch_add(kBatchUnit)) < hashes.size();) {
      const std::size_t count = std::min(kBatchUnit, hashes.size() - begin);
      FindPdq(*s, slot, hashes[begin].bytes.data(), count, match, &out[begin]);
    }
  };
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return out;
}

absl::StatusOr<std::vector<std::vector<Match>>> Matcher::MatchPdqBatch(
    std::span<const Pdq256> hashes, const MatchOptions& options) const {
  return impl_->FindPdqBatch(0, hashes, options);
}

absl::StatusOr<std::vector<std::vector<Match>>> Matcher::MatchVideoFrames(
    std::span<const Pdq256> frames, const MatchOptions& options) const {
  static const std::size_t kVideoSlot = internal::SignalSlot(Signal::kVpdq);
  HM_ASSIGN_OR_RETURN(std::vector<std::vector<Match>> out,
                      impl_->FindPdqBatch(kVideoSlot, frames, options));
  // Several frames of one video may be near a query frame: keep the closest (sorted already).
  for (std::vector<Match>& matches : out) {
    std::vector<Match> best;
    for (const Match& m : matches) {
      if (std::none_of(best.begin(), best.end(), [&](const Match& b) { return b.id == m.id; })) {
        best.push_back(m);
      }
    }
    matches = std::move(best);
  }
  return out;
}

absl::StatusOr<std::vector<VideoMatch>> Matcher::MatchVideo(
    std::span<const VpdqFeature> query, const VideoMatchOptions& options) const {
  HM_RETURN_IF_ERROR(CheckDistance(options.match));
  return internal::MatchVideo(*this, *impl_->store, impl_->options.quality_floor, query, options);
}

absl::StatusOr<std::optional<Match>> Matcher::MatchDigest(Signal signal, std::string_view value,
                                                          const MatchOptions& options) const {
  const int slot = internal::SignalSlot(signal);
  if (slot <= 0 || internal::IsPerceptual(signal)) {
    return absl::InvalidArgumentError(absl::StrCat(SignalName(signal), " is not a digest signal"));
  }
  if (value.size() != SignalValueBytes(signal)) {
    return absl::InvalidArgumentError(absl::StrCat(SignalName(signal), " value is ", value.size(),
                                                   " bytes, expected ", SignalValueBytes(signal)));
  }
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(value.data());
  const std::shared_ptr<const State> s = impl_->Current();
  const SignalState& ss = s->signals[slot];
  std::vector<std::uint32_t> positions;
  for (const auto& segment : ss.segments) {
    positions.clear();
    segment->Find(bytes, 0, &positions);
    for (const std::uint32_t p : positions) {
      if (Matchable(segment->flags(p), options)) {
        return MakeMatch(segment->label(p), 0, segment->flags(p));
      }
    }
  }
  for (std::size_t b = 0; b < ss.tail.blocks.size(); ++b) {
    const TailBlock& block = *ss.tail.blocks[b];
    for (std::size_t i = 0; i < ss.tail.in_block(b); ++i) {
      const std::uint8_t flags = block.flags[i].load(std::memory_order_relaxed);
      if (std::memcmp(&block.values[i * value.size()], bytes, value.size()) == 0 &&
          Matchable(flags, options)) {
        return MakeMatch(block.labels[i], 0, flags);
      }
    }
  }
  return std::optional<Match>();
}

absl::Status Matcher::WriteSnapshot() { return impl_->WriteSnapshot(); }

void Matcher::WaitForMerges() {
  std::lock_guard run(impl_->merge_run_mu);
  while (impl_->MergeOnce(/*idle=*/true)) {
  }
}

MatcherStats Matcher::Stats() const {
  const std::shared_ptr<const State> s = impl_->Current();
  MatcherStats stats;
  stats.applied_seq = s->applied_seq;
  for (std::size_t slot = 0; slot < kSlots; ++slot) {
    const SignalState& ss = s->signals[slot];
    for (const auto& segment : ss.segments) {
      stats.entries[slot] += segment->size();
      stats.memory_bytes += segment->MemoryBytes();
    }
    stats.entries[slot] += ss.tail.count;
    stats.segments += ss.segments.size();
    stats.tail_entries += ss.tail.count;
    stats.memory_bytes += ss.tail.blocks.size() * TailBlock::kCapacity *
                          (internal::EntryBytes(internal::kIndexedSignals[slot]) + 5);
  }
  stats.merges = impl_->merges.load();
  stats.snapshot_seq = impl_->snapshot_seq.load();
  return stats;
}

}  // namespace hashmatch::index

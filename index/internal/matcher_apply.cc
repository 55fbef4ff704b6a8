// Matcher: applying the store's change log to the in-memory state, rebuilding from the store,
// and the snapshot file (see index/internal/matcher_impl.h for the locks).
#include <algorithm>
#include <cstring>

#include "index/internal/matcher_impl.h"
#include "index/internal/snapshot_file.h"

namespace hashmatch::index {

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
    last_add = MatcherClock::now();
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

}  // namespace hashmatch::index

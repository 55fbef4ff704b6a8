// Matcher: segments + tail per signal behind an atomically swapped immutable State (matcher.h).
// This file: opening and the lookups; the state and its locks are in
// index/internal/matcher_impl.h, log application in matcher_apply.cc, merges in matcher_merge.cc.
#include "index/matcher.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "index/internal/hamming_scan.h"
#include "index/internal/matcher_impl.h"
#include "index/internal/video_match.h"

namespace hashmatch::index {

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
  impl->threads = impl->options.threads > 0 ? impl->options.threads : sys::DefaultThreads();
  impl->Publish(std::make_shared<State>());
  const auto started = MatcherClock::now();
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
      static_cast<int>(std::chrono::duration<double>(MatcherClock::now() - started).count() * 1000),
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
  // On the process's worker pool (engine/sys), not threads started per call.
  sys::ParallelFor(workers, [&](int) {
    // Small work units, taken in turn, keep both cores busy when some queries cost more.
    // (Pdq256 is exactly its 32 bytes, so a span of them is contiguous codes.)
    static_assert(sizeof(Pdq256) == 32);
    for (std::size_t begin; (begin = next.fetch_add(kBatchUnit)) < hashes.size();) {
      const std::size_t count = std::min(kBatchUnit, hashes.size() - begin);
      FindPdq(*s, slot, hashes[begin].bytes.data(), count, match, &out[begin]);
    }
  });
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

absl::StatusOr<ImagesInVideo> Matcher::MatchImagesInVideo(std::span<const VpdqFeature> frames,
                                                          const MatchOptions& options) const {
  return internal::MatchImagesInVideo(*this, impl_->options.quality_floor, frames, options);
}

bool Matcher::QueryQualityMatches(int quality, const MatchOptions& options) const {
  return options.include_low_quality || quality >= impl_->options.quality_floor;
}

int Matcher::quality_floor() const { return impl_->options.quality_floor; }

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

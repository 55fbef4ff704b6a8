#include "index/internal/segment.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "index/internal/binary_io.h"

namespace hashmatch::index::internal {

int SignalSlot(Signal signal) {
  for (std::size_t i = 0; i < kIndexedSignals.size(); ++i) {
    if (kIndexedSignals[i] == signal) return static_cast<int>(i);
  }
  return -1;
}

void Segment::AllocateFlags(std::size_t n) {
  flags_ = std::make_unique<std::atomic<std::uint8_t>[]>(n);
}

std::shared_ptr<const Segment> Segment::Build(Signal signal, const SegmentInput& input, int threads,
                                              std::vector<std::uint32_t>* order) {
  const int width = EntryBytes(signal);
  std::shared_ptr<Segment> segment(new Segment(signal, width));
  const std::size_t n = input.labels.size();
  if (IsPerceptual(signal)) {
    segment->mih_ = std::make_unique<MihIndex>();
    segment->mih_->Build(input.values, input.labels, threads, order);
  } else {
    // Digests: sorted by value, found by binary search.
    order->resize(n);
    std::iota(order->begin(), order->end(), 0u);
    const std::uint8_t* values = input.values.data();
    std::sort(order->begin(), order->end(), [&](std::uint32_t a, std::uint32_t b) {
      return std::memcmp(values + std::size_t{a} * width, values + std::size_t{b} * width, width) <
             0;
    });
    segment->values_.resize(n * width);
    segment->labels_.resize(n);
    for (std::size_t p = 0; p < n; ++p) {
      std::memcpy(&segment->values_[p * width], values + std::size_t{(*order)[p]} * width, width);
      segment->labels_[p] = input.labels[(*order)[p]];
    }
  }
  segment->AllocateFlags(n);
  for (std::size_t p = 0; p < n; ++p) segment->set_flags(p, input.flags[(*order)[p]]);
  return segment;
}

void Segment::Find(const std::uint8_t* value, int max_distance,
                   std::vector<std::uint32_t>* out) const {
  if (mih_) {
    mih_->FindWithin(value, max_distance, out);
    return;
  }
  // Binary search for the first position >= value, then every equal one (values are unique per
  // signal in the store; equal runs are harmless).
  std::size_t lo = 0, hi = size();
  while (lo < hi) {
    const std::size_t mid = (lo + hi) / 2;
    if (std::memcmp(this->value(static_cast<std::uint32_t>(mid)), value, width_) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  for (;
       lo < size() && std::memcmp(this->value(static_cast<std::uint32_t>(lo)), value, width_) == 0;
       ++lo) {
    out->push_back(static_cast<std::uint32_t>(lo));
  }
}

std::size_t Segment::MemoryBytes() const {
  return (mih_ ? mih_->MemoryBytes() : values_.capacity() + 4 * labels_.capacity()) + size();
}

void Segment::Save(BinaryWriter& out) const {
  out.Pod<std::int32_t>(width_);
  if (mih_) {
    mih_->Save(out);
  } else {
    out.Vector(values_);
    out.Vector(labels_);
  }
  std::vector<std::uint8_t> flags(size());
  for (std::size_t p = 0; p < flags.size(); ++p) flags[p] = this->flags(p);
  out.Vector(flags);
}

absl::StatusOr<std::shared_ptr<const Segment>> Segment::Load(Signal signal, BinaryReader& in) {
  std::int32_t width = 0;
  in.Pod(&width, "segment width");
  HM_RETURN_IF_ERROR(in.status());
  if (width != EntryBytes(signal)) {
    return absl::DataLossError(
        absl::StrCat("segment of ", SignalName(signal), " has width ", width));
  }
  std::shared_ptr<Segment> segment(new Segment(signal, width));
  if (IsPerceptual(signal)) {
    HM_ASSIGN_OR_RETURN(segment->mih_, MihIndex::Load(in));
  } else {
    in.Vector(&segment->values_, in.remaining(), "digest values");
    in.Vector(&segment->labels_, in.remaining(), "digest labels");
    if (in.status().ok() && segment->values_.size() != segment->labels_.size() * width) {
      return absl::DataLossError("digest segment values and labels differ in count");
    }
  }
  std::vector<std::uint8_t> flags;
  in.Vector(&flags, in.remaining(), "segment flags");
  HM_RETURN_IF_ERROR(in.status());
  if (flags.size() != segment->size()) {
    return absl::DataLossError("segment flags and values differ in count");
  }
  segment->AllocateFlags(flags.size());
  for (std::size_t p = 0; p < flags.size(); ++p) segment->set_flags(p, flags[p]);
  return std::shared_ptr<const Segment>(std::move(segment));
}

}  // namespace hashmatch::index::internal

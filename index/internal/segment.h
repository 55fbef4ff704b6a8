// The pieces of the Matcher's in-memory state (see matcher.cc for how they are combined):
// - Segment: an immutable, indexed set of values of one signal (PDQ: MihIndex; digests: sorted
//   array), each with a descriptor id (label) and a live flags byte;
// - Tail: the newest values of one signal in fixed-capacity blocks, scanned linearly, appended
//   in place beyond what published states can see, sealed into Segments by the merger.
// Flags are atomics: status changes reach readers without copying anything.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/core/core.h"
#include "index/internal/mih_index.h"

namespace hashmatch::index::internal {

class BinaryReader;
class BinaryWriter;

// Flags byte: bits 0-2 the DescriptorStatus, bit 3 set when quality is below the floor.
inline constexpr std::uint8_t kLowQualityFlag = 0x08;
inline std::uint8_t MakeFlags(DescriptorStatus status, bool low_quality) {
  return static_cast<std::uint8_t>(static_cast<std::uint8_t>(status) |
                                   (low_quality ? kLowQualityFlag : 0));
}
inline DescriptorStatus FlagsStatus(std::uint8_t flags) {
  return static_cast<DescriptorStatus>(flags & 0x07);
}
inline std::uint8_t WithStatus(std::uint8_t flags, DescriptorStatus status) {
  return static_cast<std::uint8_t>((flags & ~0x07) | static_cast<std::uint8_t>(status));
}

// The signals the matcher indexes, in slot order. The VPDQ slot holds the frames of stored videos
// (each distinct frame PDQ once per video, labelled with the video's descriptor id).
inline constexpr std::array<Signal, 5> kIndexedSignals = {Signal::kPdq, Signal::kMd5, Signal::kSha1,
                                                          Signal::kSha256, Signal::kVpdq};
int SignalSlot(Signal signal);  // index into kIndexedSignals, or -1
// Bytes per indexed entry: the signal's value width, 32 (one frame PDQ) for VPDQ.
inline int EntryBytes(Signal signal) {
  return signal == Signal::kVpdq ? 32 : static_cast<int>(SignalValueBytes(signal));
}
// PDQ-like slots are searched by Hamming distance; the others by equality.
inline bool IsPerceptual(Signal signal) {
  return signal == Signal::kPdq || signal == Signal::kVpdq;
}

// Values, labels and flags gathered for building a segment; input order.
struct SegmentInput {
  std::vector<std::uint8_t> values;  // width bytes each
  std::vector<std::uint32_t> labels;
  std::vector<std::uint8_t> flags;
};

class Segment {
 public:
  // A new segment over `input`; *order receives, for each position, its input index (so that a
  // merge can copy flags that changed while it was building).
  static std::shared_ptr<const Segment> Build(Signal signal, const SegmentInput& input, int threads,
                                              std::vector<std::uint32_t>* order);

  Signal signal() const { return signal_; }
  int width() const { return width_; }
  std::size_t size() const { return mih_ ? mih_->size() : labels_.size(); }

  // Positions whose value is within max_distance (PDQ) or equal (digests), ascending.
  void Find(const std::uint8_t* value, int max_distance, std::vector<std::uint32_t>* out) const;
  // PDQ only: whether Find scans everything at this radius (batch those through ScanWithin).
  bool ScansAt(int max_distance) const { return mih_ && mih_->ScansAt(max_distance); }
  const std::uint8_t* values() const { return mih_ ? mih_->codes() : values_.data(); }

  std::uint32_t label(std::uint32_t position) const {
    return mih_ ? mih_->label(position) : labels_[position];
  }
  const std::uint8_t* value(std::uint32_t position) const {
    return values() + static_cast<std::size_t>(position) * width_;
  }
  std::uint8_t flags(std::uint32_t position) const {
    return flags_[position].load(std::memory_order_relaxed);
  }
  void set_flags(std::uint32_t position, std::uint8_t flags) const {
    flags_[position].store(flags, std::memory_order_relaxed);
  }
  std::size_t MemoryBytes() const;

  void Save(BinaryWriter& out) const;
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<const Segment>> Load(Signal signal,
                                                                           BinaryReader& in);

 private:
  Segment(Signal signal, int width) : signal_(signal), width_(width) {}
  void AllocateFlags(std::size_t n);

  Signal signal_;
  int width_;
  std::unique_ptr<MihIndex> mih_;      // PDQ
  std::vector<std::uint8_t> values_;   // digests: sorted
  std::vector<std::uint32_t> labels_;  // digests
  std::unique_ptr<std::atomic<std::uint8_t>[]> flags_;
};

// A block of up to kCapacity entries of one signal. The writer fills entries past the count any
// published state covers, so readers never see a half-written entry.
struct TailBlock {
  static constexpr std::size_t kCapacity = 4096;
  explicit TailBlock(int width)
      : values(kCapacity * static_cast<std::size_t>(width)),
        labels(kCapacity),
        flags(std::make_unique<std::atomic<std::uint8_t>[]>(kCapacity)) {}
  std::vector<std::uint8_t> values;
  std::vector<std::uint32_t> labels;
  std::unique_ptr<std::atomic<std::uint8_t>[]> flags;
};

struct Tail {
  std::vector<std::shared_ptr<TailBlock>> blocks;
  std::size_t count = 0;  // entries visible in this state, across blocks
  std::size_t in_block(std::size_t b) const {
    return std::min(TailBlock::kCapacity, count - b * TailBlock::kCapacity);
  }
};

}  // namespace hashmatch::index::internal

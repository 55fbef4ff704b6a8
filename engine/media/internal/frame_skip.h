// FrameSkipPlan: which packets an H.264/HEVC decoder may skip when the caller samples a few frames
// (1 per second is 1 frame in 25–60), without changing which frames are sampled.
//
// A full decode numbers frames by output order. Skipping non-reference frames removes them from
// the output, so while skipping, a frame's number is instead the rank of its pts among all the
// stream's packets: the same number whenever every packet decodes to one frame in pts order.
// The plan checks that as it goes and once more at the end (every number handed out equals its
// final rank; every wanted packet came out, including those let go on a rank that packets read
// later raised); when a check fails, the caller decodes again in full. Pure bookkeeping on
// timestamps: no FFmpeg here.
#ifndef HASHMATCH_ENGINE_MEDIA_INTERNAL_FRAME_SKIP_H_
#define HASHMATCH_ENGINE_MEDIA_INTERNAL_FRAME_SKIP_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace hashmatch::media::internal {

class FrameSkipPlan {
 public:
  // `wants(number)` must depend on the number alone (e.g. number % 30 == 0).
  explicit FrameSkipPlan(std::function<bool(std::int64_t)> wants) : wants_(std::move(wants)) {}

  // A packet of the stream, in the order read. False when its pts rules the plan out (a
  // duplicate, or a packet displayed before a frame already output).
  [[nodiscard]] bool AddPacket(std::int64_t pts);
  // Whether the decoder may drop the packet just added, should it be a non-reference frame.
  [[nodiscard]] bool MaySkip(std::int64_t pts);
  // A frame the decoder output: its number, or nullopt when it contradicts the plan.
  [[nodiscard]] std::optional<std::int64_t> Output(std::int64_t pts);
  // After the last frame: whether every decision and number held for the whole stream.
  [[nodiscard]] bool Consistent() const;

  std::int64_t packets() const { return static_cast<std::int64_t>(sorted_pts_.size()); }

 private:
  std::int64_t Rank(std::int64_t pts) const;

  std::function<bool(std::int64_t)> wants_;
  std::vector<std::int64_t> sorted_pts_;                      // every packet so far
  std::vector<std::pair<std::int64_t, std::int64_t>> given_;  // (pts, number), in pts order
  std::vector<std::int64_t> skippable_;                       // pts the decoder may have dropped
  std::set<std::int64_t> awaited_;                            // wanted, not output yet
  std::optional<std::int64_t> last_output_;
};

}  // namespace hashmatch::media::internal

#endif  // HASHMATCH_ENGINE_MEDIA_INTERNAL_FRAME_SKIP_H_

// FramePipeline: converts the sampled frames of a video to RGB and hands them to the sink on a
// thread of its own, so that the decoding thread keeps the decoder fed meanwhile. Frames wait as
// references to the decoder's buffers (not copies), at most kInFlight of them: memory stays a
// few frames whatever the video's length. The sink sees one frame at a time, in order.
#ifndef HASHMATCH_ENGINE_MEDIA_INTERNAL_FRAME_PIPELINE_H_
#define HASHMATCH_ENGINE_MEDIA_INTERNAL_FRAME_PIPELINE_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "engine/media/media.h"

struct AVFrame;

namespace hashmatch::media::internal {

class FramePipeline {
 public:
  static constexpr int kInFlight = 2;

  explicit FramePipeline(VideoSink& sink);
  ~FramePipeline();  // waits for the frame in hand, drops the others
  FramePipeline(const FramePipeline&) = delete;
  FramePipeline& operator=(const FramePipeline&) = delete;

  // Queues `frame` (a new reference to it) as frame `number`, waiting while kInFlight frames
  // do. Returns the first error of an earlier frame (conversion or sink), if any.
  [[nodiscard]] absl::Status Push(const AVFrame& frame, std::int64_t number);
  // Waits until every queued frame has been handed over; the first error, if any.
  [[nodiscard]] absl::Status Finish();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace hashmatch::media::internal

#endif  // HASHMATCH_ENGINE_MEDIA_INTERNAL_FRAME_PIPELINE_H_

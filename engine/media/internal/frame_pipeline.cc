#include "engine/media/internal/frame_pipeline.h"

extern "C" {
#include <libavutil/frame.h>
#include <libswscale/swscale.h>
}

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace hashmatch::media::internal {
namespace {

struct FrameFree {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
struct SwsFree {
  void operator()(SwsContext* s) const { sws_freeContext(s); }
};

// Converts decoded frames to RGB24 at their own size, re-creating the scaler when the size or
// pixel format changes mid-stream.
class RgbConverter {
 public:
  absl::StatusOr<VideoFrame> Convert(const AVFrame& frame, std::int64_t number) {
    if (!sws_ || frame.width != width_ || frame.height != height_ || frame.format != format_) {
      width_ = frame.width;
      height_ = frame.height;
      format_ = frame.format;
      sws_.reset(sws_getContext(width_, height_, static_cast<AVPixelFormat>(format_), width_,
                                height_, AV_PIX_FMT_RGB24, SWS_AREA, nullptr, nullptr, nullptr));
      if (!sws_)
        return absl::InvalidArgumentError("video: cannot convert this pixel format to RGB");
      stride_ = static_cast<std::size_t>(width_) * 3;
      size_ = stride_ * static_cast<std::size_t>(height_);
      // swscale's vector code stores whole words and runs past the last pixel of the last row
      // (seen: 16 bytes at 2x2 chroma with an odd width); the slack keeps those stores inside
      // the buffer. Rows stay unpadded, as Meta's vPDQ hasher has them.
      rgb_.resize(size_ + kScalerSlackBytes);
    }
    std::uint8_t* planes[1] = {rgb_.data()};
    const int strides[1] = {static_cast<int>(stride_)};
    if (sws_scale(sws_.get(), frame.data, frame.linesize, 0, height_, planes, strides) != height_) {
      return absl::InvalidArgumentError(
          absl::StrCat("video: frame ", number, " could not be converted"));
    }
    return VideoFrame{number, width_, height_, stride_, std::span(rgb_.data(), size_)};
  }

 private:
  std::unique_ptr<SwsContext, SwsFree> sws_;
  int width_ = 0, height_ = 0, format_ = -1;
  static constexpr std::size_t kScalerSlackBytes = 64;
  std::size_t stride_ = 0;
  std::size_t size_ = 0;  // of the frame in rgb_
  std::vector<std::uint8_t> rgb_;
};

}  // namespace

struct FramePipeline::State {
  explicit State(VideoSink& s) : sink(s) {}

  void Work() {
    RgbConverter converter;
    std::unique_lock lock(mu);
    while (true) {
      cv.wait(lock, [&] { return stopping || !queue.empty(); });
      if (stopping) return;
      Queued next = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      absl::Status handed = absl::OkStatus();
      if (status.ok()) {  // only this thread writes status
        absl::StatusOr<VideoFrame> rgb = converter.Convert(*next.frame, next.number);
        handed = rgb.ok() ? sink.Frame(*rgb) : rgb.status();
      }
      next.frame.reset();  // back to the decoder's pool
      lock.lock();
      busy = false;
      if (!handed.ok() && status.ok()) status = handed;
      cv.notify_all();
    }
  }

  struct Queued {
    std::unique_ptr<AVFrame, FrameFree> frame;
    std::int64_t number;
  };
  VideoSink& sink;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Queued> queue;  // guarded by mu, as are the three below
  absl::Status status;
  bool busy = false;
  bool stopping = false;
  std::jthread worker;  // last: joins before the rest goes
};

FramePipeline::FramePipeline(VideoSink& sink) : state_(std::make_unique<State>(sink)) {
  state_->worker = std::jthread([s = state_.get()] { s->Work(); });
}

FramePipeline::~FramePipeline() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  state_->worker.join();
}

absl::Status FramePipeline::Push(const AVFrame& frame, std::int64_t number) {
  std::unique_ptr<AVFrame, FrameFree> ref(av_frame_clone(&frame));
  if (!ref) return absl::ResourceExhaustedError("video: out of memory");
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] {
    return state_->queue.size() < static_cast<std::size_t>(kInFlight) || !state_->status.ok();
  });
  if (!state_->status.ok()) return state_->status;
  state_->queue.push_back({std::move(ref), number});
  state_->cv.notify_all();
  return absl::OkStatus();
}

absl::Status FramePipeline::Finish() {
  std::unique_lock lock(state_->mu);
  state_->cv.wait(lock, [&] { return state_->queue.empty() && !state_->busy; });
  return state_->status;
}

}  // namespace hashmatch::media::internal

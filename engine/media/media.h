// engine/media: turns untrusted media bytes held in memory into pixels.
//
// Owns: format sniffing by magic bytes (only whitelisted formats ever reach a decoder), header
// parsing to enforce byte/pixel/side limits *before* any large allocation, and decoding: images
// with OpenCV, videos with FFmpeg's libraries through a memory AVIOContext (no protocols, no
// files; one demuxer chosen from the magic bytes; limits on bytes, size, duration, frames and
// decode time). Never reads or writes files: callers pass bytes and get pixels back, so media never
// touches disk. Never hashes (engine/hash does). All functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace hashmatch::media {

enum class ImageFormat { kJpeg, kPng, kWebp, kBmp, kTiff };
const char* FormatName(ImageFormat format);

struct ImageLimits {
  std::size_t max_bytes = std::size_t{50} << 20;  // encoded size
  std::uint64_t max_pixels = 100'000'000;         // width * height
  int max_side = 32768;                           // width and height each
};

// What the header says, read without decoding.
struct ImageInfo {
  ImageFormat format;
  int width = 0;
  int height = 0;
};

// Identifies the format from its magic bytes and reads the dimensions from the header.
// InvalidArgument for an empty buffer, an unknown or unsupported format (named when known, e.g.
// GIF, animated WebP), or a header that is truncated or inconsistent.
[[nodiscard]] absl::StatusOr<ImageInfo> ProbeImage(std::span<const std::uint8_t> bytes);

// A decoded image: 8-bit BGR, 3 channels interleaved, rows `row_stride()` bytes apart. EXIF
// orientation is ignored and alpha dropped without compositing, as Meta's reference PDQ does.
class Image {
 public:
  Image(Image&&) noexcept;
  Image& operator=(Image&&) noexcept;
  ~Image();

  ImageFormat format() const { return format_; }
  int width() const { return width_; }
  int height() const { return height_; }
  static constexpr int channels() { return 3; }
  std::size_t row_stride() const { return row_stride_; }
  std::span<const std::uint8_t> bgr() const { return pixels_; }

 private:
  friend absl::StatusOr<Image> DecodeImage(std::span<const std::uint8_t>, const ImageLimits&);
  struct Storage;
  Image(ImageFormat format, std::unique_ptr<Storage> storage);

  ImageFormat format_;
  int width_ = 0;
  int height_ = 0;
  std::size_t row_stride_ = 0;
  std::span<const std::uint8_t> pixels_;
  std::unique_ptr<Storage> storage_;
};

// Probes, checks `limits` against the header, then decodes. InvalidArgument (naming the limit or
// the defect) for empty, oversized, unsupported, truncated or corrupt input; the decoder's own
// exceptions and allocation failures are turned into statuses too.
[[nodiscard]] absl::StatusOr<Image> DecodeImage(std::span<const std::uint8_t> bytes,
                                                const ImageLimits& limits = {});

// ---- Video ----

enum class VideoContainer { kMp4, kMatroska, kAvi, kMpegTs, kFlv };
const char* ContainerName(VideoContainer container);

// The container from its magic bytes (MP4/MOV "ftyp", Matroska/WebM EBML, AVI RIFF, MPEG-TS sync
// bytes, FLV); InvalidArgument otherwise.
[[nodiscard]] absl::StatusOr<VideoContainer> ProbeVideo(std::span<const std::uint8_t> bytes);

struct VideoLimits {
  std::size_t max_bytes = std::size_t{1} << 30;
  int max_side = 8192;                       // width and height each
  std::uint64_t max_pixels = 40'000'000;     // width * height
  double max_duration_seconds = 4 * 3600.0;  // as the container states it
  std::int64_t max_frames = 1'000'000;       // frames in the stream (packets read)
  double max_decode_seconds = 1800;          // wall time of the whole decode (DeadlineExceeded)
  // Not a limit: FFmpeg decoder threads (frame + slice threading); 0 = one per core. Besides
  // these, one thread converts sampled frames to RGB and hands them to the sink.
  int decoder_threads = 0;
  // Not a limit: H.264/HEVC decoders skip the non-reference frames the sink does not want (at 1
  // sample per second, about half the frames of a typical stream). Frame numbers and sampled
  // pixels stay those of a full decode; a stream where that cannot be shown (frames without
  // timestamps, edit-list trimming, damaged packets) is decoded again in full.
  bool skip_unwanted_frames = true;
};

struct VideoInfo {
  VideoContainer container;
  std::string codec;
  int width = 0;
  int height = 0;
  double frame_rate = 0;        // avg_frame_rate, or r_frame_rate when that is 0/0
  double duration_seconds = 0;  // 0 when the container does not say
};

// One decoded frame as 8-bit RGB, converted at its own size with swscale's SWS_AREA and default
// colour matrix (what Meta's vPDQ hasher does). Valid only during the callback.
struct VideoFrame {
  std::int64_t number = 0;  // 0-based, in presentation (decoder output) order
  int width = 0;
  int height = 0;
  std::size_t row_stride = 0;
  std::span<const std::uint8_t> rgb;
};

// Receives a video as it is decoded: memory stays bounded by a few frames, whatever the length.
class VideoSink {
 public:
  virtual ~VideoSink() = default;
  // Called before the first frame; an error stops decoding and is returned. Called again when
  // decoding restarts from the beginning (see skip_unwanted_frames): drop the frames received.
  [[nodiscard]] virtual absl::Status Start(const VideoInfo& info) = 0;
  // Whether frame `number` is needed (the others are never converted to RGB, and may not be
  // decoded). Must depend on `number` alone.
  virtual bool Wants(std::int64_t number) = 0;
  // Called on a thread of the decoder's (one at a time, in order) while decoding goes on; Start
  // and Wants are called on the caller's.
  [[nodiscard]] virtual absl::Status Frame(const VideoFrame& frame) = 0;
};

// Demuxes and decodes the first video stream of `bytes`. InvalidArgument (naming the defect or
// the limit) for empty, unknown, truncated or corrupt input, or input over a limit; a sink error
// is returned as is. Returns the number of frames in the stream.
[[nodiscard]] absl::StatusOr<std::int64_t> DecodeVideo(std::span<const std::uint8_t> bytes,
                                                       const VideoLimits& limits, VideoSink& sink);

}  // namespace hashmatch::media

// engine/media: turns untrusted media bytes held in memory into pixels.
//
// Owns: format sniffing by magic bytes (only whitelisted formats ever reach a decoder), header
// parsing to enforce byte/pixel/side limits *before* any large allocation, and decoding with
// OpenCV. Never reads or writes files: callers pass bytes and get pixels back, so media never
// touches disk. Never hashes (engine/hash does). All functions are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

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

}  // namespace hashmatch::media

// Decoding with OpenCV's imdecode, after ProbeImage has identified a whitelisted format and the
// header has passed the limits. Debian's imgcodecs also links GDCM and GDAL, whose readers can
// abort() on crafted input: the magic-byte whitelist keeps every other format away from imdecode.
#include <mutex>
#include <new>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "absl/strings/str_cat.h"
#include "engine/media/media.h"

namespace hashmatch::media {

struct Image::Storage {
  cv::Mat mat;
};

Image::Image(ImageFormat format, std::unique_ptr<Storage> storage)
    : format_(format),
      width_(storage->mat.cols),
      height_(storage->mat.rows),
      row_stride_(storage->mat.step[0]),
      pixels_(storage->mat.data, storage->mat.step[0] * storage->mat.rows),
      storage_(std::move(storage)) {}
Image::Image(Image&&) noexcept = default;
Image& Image::operator=(Image&&) noexcept = default;
Image::~Image() = default;

absl::StatusOr<Image> DecodeImage(std::span<const std::uint8_t> bytes, const ImageLimits& limits) {
  if (bytes.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image is ", bytes.size(), " bytes, over the limit of ", limits.max_bytes, " bytes"));
  }
  absl::StatusOr<ImageInfo> info = ProbeImage(bytes);
  if (!info.ok()) return info.status();
  const char* name = FormatName(info->format);
  if (info->width <= 0 || info->height <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " image has no pixels (", info->width, "x", info->height, ")"));
  }
  if (info->width > limits.max_side || info->height > limits.max_side) {
    return absl::InvalidArgumentError(absl::StrCat(name, " image is ", info->width, "x",
                                                   info->height, ", over the side limit of ",
                                                   limits.max_side, " pixels"));
  }
  const std::uint64_t pixels = static_cast<std::uint64_t>(info->width) * info->height;
  if (pixels > limits.max_pixels) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " image is ", info->width, "x", info->height, " = ", pixels,
                     " pixels, over the limit of ", limits.max_pixels));
  }

  // Per-image threading inside OpenCV would fight the callers' own per-image parallelism.
  static std::once_flag single_threaded;
  std::call_once(single_threaded, [] { cv::setNumThreads(0); });

  auto storage = std::make_unique<Image::Storage>();
  try {
    // imdecode only reads its input; the Mat header just points at the caller's bytes.
    const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8UC1,
                          const_cast<std::uint8_t*>(bytes.data()));
    storage->mat = cv::imdecode(encoded, cv::IMREAD_COLOR | cv::IMREAD_IGNORE_ORIENTATION);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " image could not be decoded: ", std::string(e.msg)));
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(name, " image: out of memory decoding"));
  }
  const cv::Mat& mat = storage->mat;
  if (mat.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(name, " image is corrupt or truncated"));
  }
  if (mat.type() != CV_8UC3 || mat.cols != info->width || mat.rows != info->height) {
    return absl::InvalidArgumentError(absl::StrCat(name, " image decoded as ", mat.cols, "x",
                                                   mat.rows, " but its header says ", info->width,
                                                   "x", info->height));
  }
  return Image(info->format, std::move(storage));
}

}  // namespace hashmatch::media

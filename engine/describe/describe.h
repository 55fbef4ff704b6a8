// engine/describe: bytes -> descriptors.
//
// Owns the one path from a media file's bytes to everything hashmatch computes from it: the
// container is sniffed once (a video's magic bytes, else an image), then an image gives its PDQ
// (with quality; the 8 dihedral hashes on request) and digests, and a video its vPDQ frames
// (sampled as Meta's vpdq-hash-video does) and the file's digests. The server (MatchMedia,
// MatchVideo, --demo), `hashmatch hash|match` and `hashmatch-ingest hash` all call it, so the same
// bytes give the same hashes everywhere. Media stays in memory; nothing is written anywhere.
//
// Thread-safety: a Describer keeps scratch buffers and is not thread-safe (one per thread); the
// free functions are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/core.h"
#include "engine/hash/hash.h"
#include "engine/media/media.h"

namespace hashmatch::describe {

// ---- Borders ----
// Uniform or near-uniform borders of any colour — black or white bars, letterbox and pillarbox,
// coloured frames, blank caption bands, the margins of a screenshot — are found by peeling lines
// off each side: a line (row or column of the current box) belongs to the side's border when at
// most `max_off_fraction` of its pixels differ, in any channel, by more than `tolerance` from the
// side's colour (the per-channel median of that side's outermost line). Sides are peeled in turn
// until none changes, so nested frames of different colours go too. A side peeled by fewer than
// `min_border` lines is left alone. Content smaller than `min_content_side` on a side, or than
// `min_content_fraction` of the image's area, is not content: the image is all border.
struct BorderOptions {
  int tolerance = 24;              // per channel, of 255: JPEG noise on a flat bar stays inside
  double max_off_fraction = 0.02;  // of a line's pixels: a thin rule or a few artefacts
  int min_border = 2;              // lines
  int min_content_side = 32;       // pixels
  double min_content_fraction = 0.1;
};

struct ContentBox {
  int x = 0, y = 0, width = 0, height = 0;
};

struct BorderResult {
  enum class Kind {
    kNone,       // no border: box is the whole image
    kTrimmed,    // box holds the content inside the borders
    kAllBorder,  // what is left is too small to be content (a near-uniform image)
  };
  Kind kind = Kind::kNone;
  ContentBox box;
};

[[nodiscard]] BorderResult FindContent(const hash::PixelView& pixels,
                                       const BorderOptions& options = {});

// The pixels of `box` inside `pixels` (no copy).
hash::PixelView Crop(const hash::PixelView& pixels, const ContentBox& box);

// The content inside an image's borders (DescribeOptions::trim_borders): where it is, and its
// PDQ (and dihedral hashes, with DescribeOptions::dihedral).
struct TrimmedContent {
  ContentBox box;
  hash::PdqHash pdq;
  std::optional<hash::PdqDihedralHashes> dihedral;
};

struct ImageDescriptors {
  media::ImageFormat format;
  int width = 0;
  int height = 0;
  hash::PdqHash pdq;
  std::optional<hash::PdqDihedralHashes> dihedral;  // when DescribeOptions::dihedral
  std::optional<TrimmedContent> trimmed;            // when trim_borders finds a border
  hash::Digests digests;
};

struct VideoDescriptors {
  media::VideoInfo info;
  std::int64_t decoded_frames = 0;
  std::vector<hash::VpdqFrame> frames;  // the sampled frames, in order
  hash::Digests digests;                // of the whole file
};

// What one file gave: an image or a video.
using Descriptors = std::variant<ImageDescriptors, VideoDescriptors>;

// Which kinds a caller accepts. A file of the other kind is InvalidArgument naming both.
enum class MediaKind { kAny, kImage, kVideo };

struct DescribeOptions {
  media::ImageLimits image_limits;
  media::VideoLimits video_limits;
  bool dihedral = false;          // images: also the 8 dihedral hashes
  double seconds_per_hash = 1.0;  // videos: one frame per this many seconds (0: every frame)
  // Images: also hash the content inside uniform borders (FindContent), when there are some.
  bool trim_borders = false;
  BorderOptions borders;
};

// One descriptor value as the store and the bundles hold it: raw bytes, quality for PDQ
// (-1 for the others).
struct DescriptorValue {
  Signal signal;
  std::string value;
  int quality = -1;
};

class Describer {
 public:
  explicit Describer(DescribeOptions options = {});

  // Sniffs `bytes` (a known video container's magic bytes, else an image), decodes and hashes
  // them. InvalidArgument naming the defect or the limit for media that cannot be decoded, or
  // for a kind the caller did not ask for; DeadlineExceeded when a video's decode runs past
  // video_limits.max_decode_seconds.
  [[nodiscard]] absl::StatusOr<Descriptors> Describe(std::span<const std::uint8_t> bytes,
                                                     MediaKind accept = MediaKind::kAny);

  // Reads the file (refusing one over the larger of the two byte limits) and describes it.
  [[nodiscard]] absl::StatusOr<Descriptors> DescribeFile(const std::string& path,
                                                         MediaKind accept = MediaKind::kAny);

  const DescribeOptions& options() const { return options_; }

 private:
  [[nodiscard]] absl::StatusOr<ImageDescriptors> DescribeImage(std::span<const std::uint8_t> bytes);
  [[nodiscard]] absl::StatusOr<VideoDescriptors> DescribeVideo(std::span<const std::uint8_t> bytes);

  DescribeOptions options_;
  hash::PdqHasher image_pdq_;
  hash::PdqHasher video_pdq_;
};

// Whether the bytes start like a video container we decode (the same sniffing Describe does).
bool LooksLikeVideo(std::span<const std::uint8_t> bytes);

// A video's sampled frames as VPDQ features (timestamps rounded to milliseconds): what a VPDQ
// value (engine/core EncodeVpdq) holds and what video matching takes.
std::vector<VpdqFeature> Features(const VideoDescriptors& video);

// Every descriptor value of one file, in a fixed order: the PDQ (image) or the VPDQ value (video;
// none when no frame was sampled), then MD5, SHA-1, SHA-256.
std::vector<DescriptorValue> Values(const Descriptors& descriptors);

}  // namespace hashmatch::describe

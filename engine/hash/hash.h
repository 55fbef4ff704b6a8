// engine/hash: pure computation of descriptors from bytes and pixels already in memory.
//
// Owns: PDQ (256-bit hash, quality, the 8 dihedral hashes), bit-compatible with Meta's reference
// pdq-photo-hasher, and the MD5/SHA-1/SHA-256 digests of raw bytes. Never does I/O, never decodes
// files (engine/media does), never knows the index exists.
// Thread-safety: PdqHasher owns scratch buffers and is not thread-safe: use one per thread.
// ComputeDigests is a pure function.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "absl/status/statusor.h"
#include "engine/core/core.h"

namespace hashmatch::hash {

enum class ChannelOrder { kRgb, kBgr };

// 8-bit pixels in memory, channels interleaved. channels: 1 (grey), 3 (RGB/BGR), 4 (RGBA/BGRA:
// alpha is ignored, as the reference does). Pixel (r, c) channel k is at
// data[r * row_stride + c * channels + k].
struct PixelView {
  std::span<const std::uint8_t> data;
  int rows = 0;
  int cols = 0;
  int channels = 3;
  std::size_t row_stride = 0;
  ChannelOrder order = ChannelOrder::kBgr;
};

// The steps of Meta's *photo* tool that come before the PDQ algorithm proper. They change the hash,
// so they are explicit here rather than hidden in decoding. The defaults reproduce
// pdq-photo-hasher; the vPDQ video hasher turns both off.
struct PdqOptions {
  // An image wider or taller than 512 is first resized to exactly 512x512 (aspect ratio not kept)
  // by nearest neighbour, source index floor(x * W / 512).
  bool resize_large_to_512 = true;
  // An image whose every pixel has R = G = B is hashed from that grey value instead of the float
  // luma 0.299 R + 0.587 G + 0.114 B (the reference decodes such files as grey; the two differ
  // for 35 of the 256 levels).
  bool grey_when_all_channels_equal = true;
};

struct PdqHash {
  Pdq256 hash;
  int quality = 0;  // 0..100; below 50 is too featureless to match reliably
};

// The dihedral transforms in the reference's order and naming. kRotate90 is counter-clockwise: an
// image turned 90 degrees clockwise hashes closest to kRotate270; a left-right mirror to kFlipY.
enum class Dihedral {
  kOriginal,
  kRotate90,
  kRotate180,
  kRotate270,
  kFlipX,
  kFlipY,
  kFlipPlus1,
  kFlipMinus1
};
inline constexpr std::array<const char*, 8> kDihedralNames = {"orig",  "rot90", "rot180", "rot270",
                                                              "flipx", "flipy", "flipp",  "flipm"};

struct PdqDihedralHashes {
  std::array<Pdq256, 8> hashes;  // indexed by Dihedral
  int quality = 0;               // shared by all eight
};

// Smallest side PDQ accepts; the reference silently returns an all-zero hash below it.
inline constexpr int kPdqMinSide = 5;

class PdqHasher {
 public:
  explicit PdqHasher(PdqOptions options = {});
  ~PdqHasher();
  PdqHasher(const PdqHasher&) = delete;
  PdqHasher& operator=(const PdqHasher&) = delete;

  // InvalidArgument when a side is < kPdqMinSide, the channel count is not 1/3/4, or `data` is too
  // small for rows/cols/row_stride. Never returns an all-zero hash as a success.
  [[nodiscard]] absl::StatusOr<PdqHash> Hash(const PixelView& pixels);

  // All eight dihedral hashes from one DCT. As in the reference, this path always runs the blur
  // (no 64x64 shortcut), so for a 64x64 colour image its kOriginal may differ from Hash() by
  // float rounding.
  [[nodiscard]] absl::StatusOr<PdqDihedralHashes> HashDihedral(const PixelView& pixels);

 private:
  struct Scratch;
  // Luma, blur/decimate (or the 64x64 shortcut), DCT into the scratch 16x16; returns quality.
  [[nodiscard]] absl::StatusOr<int> ComputeDct(const PixelView& pixels, bool allow_64x64_shortcut);

  PdqOptions options_;
  std::unique_ptr<Scratch> scratch_;
};

struct Digests {
  Md5 md5;
  Sha1 sha1;
  Sha256 sha256;
};

// MD5, SHA-1 and SHA-256 of `bytes` in one pass (OpenSSL EVP). Internal only fails if OpenSSL does.
[[nodiscard]] absl::StatusOr<Digests> ComputeDigests(std::span<const std::uint8_t> bytes);

// ---- vPDQ (Meta's video hasher) ----

// Frames are sampled every `VpdqFrameMod` frames: max(1, (int)(seconds_per_hash * frame_rate)),
// counting decoded frames from 0 in presentation order; a frame's timestamp is
// number / frame_rate (not its PTS). seconds_per_hash 0 hashes every frame.
int VpdqFrameMod(double frame_rate, double seconds_per_hash);

// vPDQ hashes frames with the RGB luma path and no 512x512 pre-resize.
inline constexpr PdqOptions kVpdqPdqOptions{false, false};

struct VpdqFrame {
  std::int64_t number = 0;
  double timestamp_seconds = 0;
  PdqHash pdq;
};

}  // namespace hashmatch::hash

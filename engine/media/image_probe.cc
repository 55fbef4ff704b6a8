// Format sniffing and header parsing for the whitelisted image formats. Reads only the bytes it
// needs, bounds-checks every read, and never allocates in proportion to the image.
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "engine/media/media.h"

namespace hashmatch::media {
namespace {

using Bytes = std::span<const std::uint8_t>;

std::uint32_t Be16(Bytes b, std::size_t at) { return b[at] << 8 | b[at + 1]; }
std::uint32_t Be32(Bytes b, std::size_t at) { return Be16(b, at) << 16 | Be16(b, at + 2); }
std::uint32_t Le16(Bytes b, std::size_t at) { return b[at] | b[at + 1] << 8; }
std::uint32_t Le24(Bytes b, std::size_t at) { return Le16(b, at) | b[at + 2] << 16; }
std::uint32_t Le32(Bytes b, std::size_t at) { return Le16(b, at) | Le16(b, at + 2) << 16; }

bool StartsWith(Bytes b, std::string_view magic, std::size_t at = 0) {
  return b.size() >= at + magic.size() &&
         std::memcmp(b.data() + at, magic.data(), magic.size()) == 0;
}

absl::Status Corrupt(const char* format, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(format, " image: ", what));
}

absl::StatusOr<ImageInfo> ProbeJpeg(Bytes b) {
  // Walk the marker segments up to the frame header (SOFn), which holds the dimensions.
  std::size_t pos = 2;
  std::optional<ImageInfo> info;
  while (!info) {
    if (pos + 4 > b.size()) return Corrupt("JPEG", "truncated before the frame header");
    if (b[pos] != 0xFF) {
      return Corrupt("JPEG", absl::StrCat("expected a marker at byte ", pos));
    }
    const std::uint8_t marker = b[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    pos += 2;
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no payload
    if (marker == 0xD9 || marker == 0xDA) return Corrupt("JPEG", "no frame header before scan");
    const std::uint32_t length = Be16(b, pos);
    if (length < 2 || pos + length > b.size()) {
      return Corrupt("JPEG", absl::StrCat("segment at byte ", pos - 2, " is truncated"));
    }
    const bool is_frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (is_frame) {
      if (length < 8) return Corrupt("JPEG", "frame header too short");
      info = ImageInfo{ImageFormat::kJpeg, static_cast<int>(Be16(b, pos + 5)),
                       static_cast<int>(Be16(b, pos + 3))};
    }
    pos += length;
  }
  // libjpeg pads a truncated scan with grey and reports success, so require the end-of-image
  // marker. Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so an
  // FF D9 pair after the frame header is the real end.
  bool has_end = false;
  for (std::size_t i = pos; i + 1 < b.size(); ++i) {
    const void* ff = std::memchr(b.data() + i, 0xFF, b.size() - 1 - i);
    if (ff == nullptr) break;
    i = static_cast<const std::uint8_t*>(ff) - b.data();
    if (b[i + 1] == 0xD9) {
      has_end = true;
      break;
    }
  }
  if (!has_end) return Corrupt("JPEG", "truncated (no end-of-image marker)");
  return *info;
}

absl::StatusOr<ImageInfo> ProbePng(Bytes b) {
  if (b.size() < 33 || !StartsWith(b, "IHDR", 12) || Be32(b, 8) != 13) {
    return Corrupt("PNG", "missing or truncated IHDR header");
  }
  const std::uint32_t width = Be32(b, 16);
  const std::uint32_t height = Be32(b, 20);
  if (width > 0x7FFFFFFF || height > 0x7FFFFFFF) return Corrupt("PNG", "dimensions out of range");
  // Walk the chunks to the end marker: a truncated file is refused rather than half-decoded.
  std::size_t pos = 8;
  while (true) {
    if (pos + 12 > b.size()) return Corrupt("PNG", "truncated (no IEND chunk)");
    const std::uint64_t length = Be32(b, pos);
    if (StartsWith(b, "IEND", pos + 4)) break;
    pos += 12 + length;
  }
  return ImageInfo{ImageFormat::kPng, static_cast<int>(width), static_cast<int>(height)};
}

absl::StatusOr<ImageInfo> ProbeWebp(Bytes b) {
  if (b.size() < 30) return Corrupt("WebP", "truncated header");
  if (static_cast<std::uint64_t>(Le32(b, 4)) + 8 > b.size()) return Corrupt("WebP", "truncated");
  const std::size_t payload = 20;
  if (StartsWith(b, "VP8 ", 12)) {
    if (b[payload + 3] != 0x9D || b[payload + 4] != 0x01 || b[payload + 5] != 0x2A) {
      return Corrupt("WebP", "bad VP8 start code");
    }
    return ImageInfo{ImageFormat::kWebp, static_cast<int>(Le16(b, payload + 6) & 0x3FFF),
                     static_cast<int>(Le16(b, payload + 8) & 0x3FFF)};
  }
  if (StartsWith(b, "VP8L", 12)) {
    if (b[payload] != 0x2F) return Corrupt("WebP", "bad VP8L signature");
    const std::uint32_t bits = Le32(b, payload + 1);
    return ImageInfo{ImageFormat::kWebp, static_cast<int>((bits & 0x3FFF) + 1),
                     static_cast<int>(((bits >> 14) & 0x3FFF) + 1)};
  }
  if (StartsWith(b, "VP8X", 12)) {
    if (b[payload] & 0x02) {
      return absl::InvalidArgumentError("animated WebP is not supported; send frames as video");
    }
    return ImageInfo{ImageFormat::kWebp, static_cast<int>(Le24(b, payload + 4) + 1),
                     static_cast<int>(Le24(b, payload + 7) + 1)};
  }
  return Corrupt("WebP", "unknown first chunk");
}

absl::StatusOr<ImageInfo> ProbeBmp(Bytes b) {
  if (b.size() < 26) return Corrupt("BMP", "truncated header");
  const std::uint32_t dib_size = Le32(b, 14);
  std::int64_t width, height;
  if (dib_size == 12) {  // OS/2 BITMAPCOREHEADER
    width = Le16(b, 18);
    height = Le16(b, 20);
  } else {
    width = static_cast<std::int32_t>(Le32(b, 18));
    height = static_cast<std::int32_t>(Le32(b, 22));
    if (height < 0) height = -height;  // top-down rows
  }
  if (width <= 0 || height <= 0 || width > 0x7FFFFFFF || height > 0x7FFFFFFF) {
    return Corrupt("BMP", "dimensions out of range");
  }
  return ImageInfo{ImageFormat::kBmp, static_cast<int>(width), static_cast<int>(height)};
}

absl::StatusOr<ImageInfo> ProbeTiff(Bytes b) {
  const bool big_endian = b[0] == 'M';
  auto u16 = [&](std::size_t at) { return big_endian ? Be16(b, at) : Le16(b, at); };
  auto u32 = [&](std::size_t at) { return big_endian ? Be32(b, at) : Le32(b, at); };
  const std::uint64_t ifd = u32(4);
  if (ifd + 2 > b.size()) return Corrupt("TIFF", "first directory is past the end");
  const std::uint32_t entries = u16(ifd);
  if (ifd + 2 + 12ull * entries > b.size()) return Corrupt("TIFF", "truncated directory");
  std::int64_t width = -1, height = -1;
  for (std::uint32_t e = 0; e < entries; ++e) {
    const std::size_t at = ifd + 2 + 12 * e;
    const std::uint32_t tag = u16(at), type = u16(at + 2);
    if (tag != 256 && tag != 257) continue;
    std::int64_t value;
    if (type == 3) {
      value = u16(at + 8);
    } else if (type == 4) {
      value = u32(at + 8);
    } else {
      return Corrupt("TIFF", "image size tag has an unexpected type");
    }
    (tag == 256 ? width : height) = value;
  }
  if (width <= 0 || height <= 0 || width > 0x7FFFFFFF || height > 0x7FFFFFFF) {
    return Corrupt("TIFF", "missing or invalid ImageWidth/ImageLength");
  }
  return ImageInfo{ImageFormat::kTiff, static_cast<int>(width), static_cast<int>(height)};
}

}  // namespace

const char* FormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kWebp:
      return "WebP";
    case ImageFormat::kBmp:
      return "BMP";
    case ImageFormat::kTiff:
      return "TIFF";
  }
  return "unknown";
}

absl::StatusOr<ImageInfo> ProbeImage(Bytes b) {
  if (b.empty()) return absl::InvalidArgumentError("image is empty (0 bytes)");
  if (StartsWith(b, "\xFF\xD8\xFF")) return ProbeJpeg(b);
  if (StartsWith(b, "\x89PNG\r\n\x1A\n")) return ProbePng(b);
  if (StartsWith(b, "RIFF") && StartsWith(b, "WEBP", 8)) return ProbeWebp(b);
  if (StartsWith(b, "BM")) return ProbeBmp(b);
  if (StartsWith(b, std::string_view("II*\0", 4)) || StartsWith(b, std::string_view("MM\0*", 4))) {
    if (b.size() < 8) return Corrupt("TIFF", "truncated header");
    return ProbeTiff(b);
  }
  if (StartsWith(b, "GIF8")) return absl::InvalidArgumentError("GIF images are not supported");
  return absl::InvalidArgumentError(
      "not a supported image (JPEG, PNG, WebP, BMP or TIFF, identified by magic bytes)");
}

}  // namespace hashmatch::media

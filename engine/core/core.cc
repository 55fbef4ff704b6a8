#include "engine/core/core.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace hashmatch {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Printable(char c) {
  if (c >= 0x20 && c < 0x7f) return std::string{'\'', c, '\''};
  return std::string{
      'b', 'y', 't', 'e', ' ', '0', 'x', kHexDigits[(c >> 4) & 0xf], kHexDigits[c & 0xf]};
}

// The byte and bit that hold PDQ bit k (see SetPdqBit in core.h).
struct PdqBitPosition {
  int byte;
  int bit;
};
constexpr PdqBitPosition LocatePdqBit(int k) {
  const int word = k / 16;
  const int bit_in_word = k % 16;
  // Word `word` is printed at hex characters [4*(15-word), 4*(15-word)+4): its high byte first.
  return {2 * (15 - word) + (bit_in_word < 8 ? 1 : 0), bit_in_word % 8};
}

}  // namespace

template <std::size_t N, typename Tag>
std::string FixedHash<N, Tag>::ToHex() const {
  return EncodeHex(AsChars());
}

template <typename H>
absl::StatusOr<H> ParseHex(std::string_view hex) {
  if (hex.size() != 2 * H::kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(H::kName, ": expected ", 2 * H::kSize, " hex characters, got ", hex.size()));
  }
  absl::StatusOr<std::string> bytes = DecodeHex(hex);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(H::kName, ": ", std::string(bytes.status().message())));
  }
  H out;
  std::memcpy(out.bytes.data(), bytes->data(), H::kSize);
  return out;
}

std::string EncodeHex(std::string_view bytes) {
  std::string out(2 * bytes.size(), '0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHexDigits[b >> 4];
    out[2 * i + 1] = kHexDigits[b & 0xf];
  }
  return out;
}

absl::StatusOr<std::string> DecodeHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("odd number of hex digits (", hex.size(), ")"));
  }
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      const std::size_t pos = hi < 0 ? 2 * i : 2 * i + 1;
      return absl::InvalidArgumentError(
          absl::StrCat(Printable(hex[pos]), " at position ", pos, " is not a hex digit"));
    }
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

template struct FixedHash<32, PdqTag>;
template struct FixedHash<16, Md5Tag>;
template struct FixedHash<20, Sha1Tag>;
template struct FixedHash<32, Sha256Tag>;
template absl::StatusOr<Pdq256> ParseHex<Pdq256>(std::string_view);
template absl::StatusOr<Md5> ParseHex<Md5>(std::string_view);
template absl::StatusOr<Sha1> ParseHex<Sha1>(std::string_view);
template absl::StatusOr<Sha256> ParseHex<Sha256>(std::string_view);

void SetPdqBit(Pdq256& hash, int k) {
  const PdqBitPosition p = LocatePdqBit(k);
  hash.bytes[p.byte] = static_cast<std::uint8_t>(hash.bytes[p.byte] | (1u << p.bit));
}

bool GetPdqBit(const Pdq256& hash, int k) {
  const PdqBitPosition p = LocatePdqBit(k);
  return (hash.bytes[p.byte] >> p.bit) & 1u;
}

int HammingDistance(const Pdq256& a, const Pdq256& b) {
  int distance = 0;
  for (std::size_t i = 0; i < Pdq256::kSize; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, &a.bytes[i], 8);
    std::memcpy(&y, &b.bytes[i], 8);
    distance += std::popcount(x ^ y);
  }
  return distance;
}

int PopCount(const Pdq256& hash) { return HammingDistance(hash, Pdq256{}); }

namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(a[i])) !=
        std::toupper(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

constexpr DescriptorStatus kAllStatuses[] = {
    DescriptorStatus::kCandidate, DescriptorStatus::kVerified, DescriptorStatus::kRejected,
    DescriptorStatus::kRetracted};

}  // namespace

const char* SignalName(Signal signal) {
  switch (signal) {
    case Signal::kPdq:
      return "PDQ";
    case Signal::kMd5:
      return "MD5";
    case Signal::kSha1:
      return "SHA1";
    case Signal::kSha256:
      return "SHA256";
    case Signal::kVpdq:
      return "VPDQ";
    case Signal::kPhotoDna:
      return "PHOTODNA";
  }
  return "UNKNOWN";
}

std::optional<Signal> ParseSignal(std::string_view name) {
  for (const Signal s : kAllSignals) {
    if (EqualsIgnoringCase(name, SignalName(s))) return s;
  }
  return std::nullopt;
}

std::size_t SignalValueBytes(Signal signal) {
  switch (signal) {
    case Signal::kPdq:
      return 32;
    case Signal::kMd5:
      return 16;
    case Signal::kSha1:
      return 20;
    case Signal::kSha256:
      return 32;
    case Signal::kVpdq:
      return 0;
    case Signal::kPhotoDna:
      return 144;
  }
  return 0;
}

const char* StatusName(DescriptorStatus status) {
  switch (status) {
    case DescriptorStatus::kCandidate:
      return "CANDIDATE";
    case DescriptorStatus::kVerified:
      return "VERIFIED";
    case DescriptorStatus::kRejected:
      return "REJECTED";
    case DescriptorStatus::kRetracted:
      return "RETRACTED";
  }
  return "UNKNOWN";
}

std::optional<DescriptorStatus> ParseStatus(std::string_view name) {
  for (const DescriptorStatus s : kAllStatuses) {
    if (EqualsIgnoringCase(name, StatusName(s))) return s;
  }
  return std::nullopt;
}

std::string EncodeVpdq(std::span<const VpdqFeature> frames) {
  std::string out;
  out.reserve(1 + frames.size() * kVpdqFrameBytes);
  out.push_back('\x01');
  for (const VpdqFeature& f : frames) {
    for (int b = 0; b < 4; ++b)
      out.push_back(static_cast<char>((f.timestamp_ms >> (8 * b)) & 0xFF));
    out.push_back(static_cast<char>(f.quality));
    out.append(f.pdq.AsChars());
  }
  return out;
}

absl::StatusOr<std::vector<VpdqFeature>> DecodeVpdq(std::string_view value) {
  if (value.empty() || value[0] != '\x01') {
    return absl::InvalidArgumentError("VPDQ value: not version 1 (first byte must be 0x01)");
  }
  if ((value.size() - 1) % kVpdqFrameBytes != 0 || value.size() == 1) {
    return absl::InvalidArgumentError(absl::StrCat("VPDQ value: ", value.size(),
                                                   " bytes is not 1 + a positive multiple of ",
                                                   kVpdqFrameBytes));
  }
  std::vector<VpdqFeature> frames((value.size() - 1) / kVpdqFrameBytes);
  const auto* p = reinterpret_cast<const std::uint8_t*>(value.data()) + 1;
  for (std::size_t i = 0; i < frames.size(); ++i, p += kVpdqFrameBytes) {
    VpdqFeature& f = frames[i];
    f.timestamp_ms = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                     static_cast<std::uint32_t>(p[2]) << 16 |
                     static_cast<std::uint32_t>(p[3]) << 24;
    f.quality = p[4];
    std::copy(p + 5, p + kVpdqFrameBytes, f.pdq.bytes.begin());
    if (f.quality > 100) {
      return absl::InvalidArgumentError(
          absl::StrCat("VPDQ value: frame ", i, " has quality ", f.quality, " (0..100)"));
    }
    if (i > 0 && f.timestamp_ms < frames[i - 1].timestamp_ms) {
      return absl::InvalidArgumentError(
          absl::StrCat("VPDQ value: frame ", i, " goes back in time (", f.timestamp_ms,
                       " ms after ", frames[i - 1].timestamp_ms, " ms)"));
    }
  }
  return frames;
}

absl::Status CheckDescriptorValue(Signal signal, std::string_view value, int quality,
                                  std::string_view where, std::size_t max_bytes) {
  const std::string at(where);
  if (!ParseSignal(SignalName(signal))) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ": signal ", static_cast<int>(signal), " is unknown"));
  }
  const std::size_t want = SignalValueBytes(signal);
  if (want != 0 && value.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(at, ": ", SignalName(signal), " value is ",
                                                   value.size(), " bytes, expected ", want));
  }
  if (value.empty() || value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ": value is ", value.size(), " bytes; allowed 1..", max_bytes));
  }
  if (signal == Signal::kVpdq) {
    // The matcher indexes every frame: a value it cannot read must never be accepted.
    if (absl::StatusOr<std::vector<VpdqFeature>> frames = DecodeVpdq(value); !frames.ok()) {
      return Prefixed(frames.status(), at + ": ");
    }
  }
  if (quality < -1 || quality > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat(at, ": quality ", quality, " is outside 0..100 (or -1 for none)"));
  }
  if (signal == Signal::kPdq && quality < 0) {
    return absl::InvalidArgumentError(absl::StrCat(at, ": a PDQ descriptor needs its quality"));
  }
  return absl::OkStatus();
}

absl::Status Prefixed(const absl::Status& status, std::string_view prefix) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(std::string(prefix), status.message()));
}

}  // namespace hashmatch

// engine/core: what every hashmatch module shares.
//
// Owns: the Status propagation macros (Debian's Abseil 20220623 has none) and Prefixed, the hash
// value types (Pdq256 and the MD5/SHA-1/SHA-256 digests) and their hex form, the descriptor
// vocabulary every layer speaks (Signal, DescriptorStatus, the VPDQ value), and the one
// descriptor-value check (CheckDescriptorValue). Hashes are plain values of raw
// bytes; hex appears only at the edges (ParseHex / ToHex). No I/O, no dependency on other modules.
// Everything here is a value type or a pure function: safe to use from any thread.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define HM_RETURN_IF_ERROR(expr)                              \
  do {                                                        \
    if (absl::Status hm_status_ = (expr); !hm_status_.ok()) { \
      return hm_status_;                                      \
    }                                                         \
  } while (false)

#define HM_INTERNAL_CONCAT_(a, b) a##b
#define HM_INTERNAL_CONCAT(a, b) HM_INTERNAL_CONCAT_(a, b)
#define HM_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

// `HM_ASSIGN_OR_RETURN(auto x, F());` evaluates F() (an absl::StatusOr<T>); on error it returns
// the status from the enclosing function, otherwise it moves the value into `x`.
#define HM_ASSIGN_OR_RETURN(lhs, expr) \
  HM_INTERNAL_ASSIGN_OR_RETURN(HM_INTERNAL_CONCAT(hm_statusor_, __LINE__), lhs, expr)

namespace hashmatch {

// Note: Debian's Abseil 20220623 has its own absl::string_view, distinct from std::string_view;
// absl::StrCat accepts std::string and const char* but not std::string_view.
//
// A hash of a fixed number of raw bytes. `Tag` names the kind for messages (Tag::kName) so that a
// PDQ hash and a SHA-256 digest, both 32 bytes, are different types.
template <std::size_t N, typename Tag>
struct FixedHash {
  static constexpr std::size_t kSize = N;
  static constexpr const char* kName = Tag::kName;

  std::array<std::uint8_t, N> bytes{};

  friend auto operator<=>(const FixedHash&, const FixedHash&) = default;

  // Lower-case hex, 2*N characters, first byte first.
  std::string ToHex() const;
  // The raw bytes as characters: what descriptor values, bundles and proto `bytes` fields hold.
  std::string_view AsChars() const {
    return std::string_view(reinterpret_cast<const char*>(bytes.data()), N);
  }
};

struct PdqTag {
  static constexpr const char kName[] = "PDQ hash";
};
struct Md5Tag {
  static constexpr const char kName[] = "MD5";
};
struct Sha1Tag {
  static constexpr const char kName[] = "SHA-1";
};
struct Sha256Tag {
  static constexpr const char kName[] = "SHA-256";
};

// PDQ: 256 bits. Bytes are in the order of the reference's hex string, so ToHex() prints exactly
// what Meta's pdq-photo-hasher prints. Use SetPdqBit/GetPdqBit for the reference's bit numbering.
using Pdq256 = FixedHash<32, PdqTag>;
using Md5 = FixedHash<16, Md5Tag>;
using Sha1 = FixedHash<20, Sha1Tag>;
using Sha256 = FixedHash<32, Sha256Tag>;

// Parses 2*H::kSize hex digits (either case, no prefix, no spaces). The error names the kind, the
// expected and actual length, or the first bad character and its position.
template <typename H>
[[nodiscard]] absl::StatusOr<H> ParseHex(std::string_view hex);

// Any even number of hex digits (either case) to bytes. The error names an odd length, or the
// first bad character and its position.
[[nodiscard]] absl::StatusOr<std::string> DecodeHex(std::string_view hex);
// Bytes to lower-case hex.
std::string EncodeHex(std::string_view bytes);

// PDQ bit k (0..255) as the reference numbers it: k = 16*i + j is bit j of 16-bit word i, and the
// hex string prints word 15 first. This is the only place that knows the layout.
void SetPdqBit(Pdq256& hash, int k);
bool GetPdqBit(const Pdq256& hash, int k);

// Number of differing bits (0..256).
int HammingDistance(const Pdq256& a, const Pdq256& b);

// Number of set bits (0..256).
int PopCount(const Pdq256& hash);

// What a descriptor's value is. Numbers are stored on disk: never renumber.
enum class Signal : std::uint8_t {
  kPdq = 1,       // 32 bytes
  kMd5 = 2,       // 16 bytes
  kSha1 = 3,      // 20 bytes
  kSha256 = 4,    // 32 bytes
  kVpdq = 5,      // a video's frame hashes (variable)
  kPhotoDna = 6,  // 144 bytes, opaque: import/export only
};
inline constexpr Signal kAllSignals[] = {Signal::kPdq,    Signal::kMd5,  Signal::kSha1,
                                         Signal::kSha256, Signal::kVpdq, Signal::kPhotoDna};
// "PDQ", "MD5", "SHA1", "SHA256", "VPDQ", "PHOTODNA".
const char* SignalName(Signal signal);
// Accepts the names above, any case.
std::optional<Signal> ParseSignal(std::string_view name);
// Bytes of a value of this signal; 0 when variable (VPDQ).
std::size_t SignalValueBytes(Signal signal);

// The one check of a descriptor value, used by the store, the bundle reader, the server and the
// importers: a known signal; a raw value of that signal's length (VPDQ: one that decodes), not
// empty and at most `max_bytes`; a quality of 0..100 for PDQ (required) and -1 (none) or 0..100
// for the others. InvalidArgument whose message starts with `where` (e.g. "item 3").
inline constexpr std::size_t kMaxDescriptorValueBytes = std::size_t{1} << 20;
[[nodiscard]] absl::Status CheckDescriptorValue(Signal signal, std::string_view value, int quality,
                                                std::string_view where,
                                                std::size_t max_bytes = kMaxDescriptorValueBytes);

// `status` with `prefix` put before its message (same code); OK stays OK.
[[nodiscard]] absl::Status Prefixed(const absl::Status& status, std::string_view prefix);

// A VPDQ value: one video's sampled frames, as the store keeps it and bundles carry it.
// Encoding (version 1): byte 0x01, then per frame `u32 timestamp in ms (little-endian), u8
// quality (0..100), 32 bytes PDQ`, timestamps non-decreasing. Equal videos encode equally, so the
// store's signal + value identity also de-duplicates videos.
struct VpdqFeature {
  Pdq256 pdq;
  int quality = 0;
  std::uint32_t timestamp_ms = 0;
};
inline constexpr std::size_t kVpdqFrameBytes = 37;
std::string EncodeVpdq(std::span<const VpdqFeature> frames);
// InvalidArgument naming the frame index and the defect (version, length, quality, order).
[[nodiscard]] absl::StatusOr<std::vector<VpdqFeature>> DecodeVpdq(std::string_view value);

// Where a descriptor is in its review. Numbers are stored on disk: never renumber.
enum class DescriptorStatus : std::uint8_t {
  kCandidate = 1,  // submitted (by ict), awaiting police review; matches only on request
  kVerified = 2,   // matches by default
  kRejected = 3,   // reviewed and refused: never matches
  kRetracted = 4,  // withdrawn after verification: never matches
};
// "CANDIDATE", "VERIFIED", "REJECTED", "RETRACTED".
const char* StatusName(DescriptorStatus status);
std::optional<DescriptorStatus> ParseStatus(std::string_view name);

}  // namespace hashmatch

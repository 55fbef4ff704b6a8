// tools/common: local hashing shared by the client tools (hashmatch, hashmatch-ingest).
//
// Owns: finding the input files under the paths a user gives, reading one file into memory with
// a size bound, and turning its bytes into descriptors (PDQ + digests) through engine/media and
// engine/hash, plus a small ordered parallel loop. Media stays in memory; nothing is written.
// LocalHasher is not thread-safe (one per worker thread); the free functions are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/hash/hash.h"
#include "engine/media/media.h"

namespace hashmatch::tools {

// Expands files and folders (recursively, sorted, regular files only) into a list of files.
// A path that does not exist or cannot be listed is an error naming it.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ListInputFiles(
    const std::vector<std::string>& paths);

// Reads a whole file, refusing one larger than `max_bytes` before reading it.
[[nodiscard]] absl::StatusOr<std::vector<std::uint8_t>> ReadFileBounded(const std::string& path,
                                                                        std::size_t max_bytes);

struct ImageDescriptors {
  media::ImageFormat format;
  int width = 0;
  int height = 0;
  hash::PdqHash pdq;
  std::optional<hash::PdqDihedralHashes> dihedral;  // with `dihedral` requested
  hash::Digests digests;
};

struct VideoDescriptors {
  media::VideoInfo info;
  std::int64_t decoded_frames = 0;
  std::vector<hash::VpdqFrame> frames;  // the sampled frames, in order
  hash::Digests digests;                // of the whole file
};

// The sampled frames as VPDQ features (timestamps rounded to milliseconds): what a VPDQ value
// (engine/core EncodeVpdq) holds and what video matching takes.
std::vector<VpdqFeature> Features(const VideoDescriptors& video);

class LocalHasher {
 public:
  explicit LocalHasher(media::ImageLimits limits = {}, media::VideoLimits video_limits = {})
      : limits_(limits), video_limits_(video_limits), video_pdq_(hash::kVpdqPdqOptions) {}

  // Decodes `bytes` and computes PDQ (the dihedral set when asked: then `pdq` is its kOriginal,
  // as `pdq-photo-hasher --pdqdih` prints) and the digests.
  [[nodiscard]] absl::StatusOr<ImageDescriptors> HashImage(std::span<const std::uint8_t> bytes,
                                                           bool dihedral);

  // ReadFileBounded + HashImage.
  [[nodiscard]] absl::StatusOr<ImageDescriptors> HashImageFile(const std::string& path,
                                                               bool dihedral);

  // Decodes a video from memory and hashes one frame per `seconds_per_hash` (0: every frame) as
  // Meta's vPDQ does, plus the file's digests. Memory follows a few frames, not the video. Frames
  // are hashed, and the digests computed, on threads of their own while decoding goes on.
  [[nodiscard]] absl::StatusOr<VideoDescriptors> HashVideo(std::span<const std::uint8_t> bytes,
                                                           double seconds_per_hash);

  const media::ImageLimits& limits() const { return limits_; }
  const media::VideoLimits& video_limits() const { return video_limits_; }

 private:
  media::ImageLimits limits_;
  media::VideoLimits video_limits_;
  hash::PdqHasher pdq_;
  hash::PdqHasher video_pdq_;
};

// Runs work(thread, i) for i in [0, n) on `threads` threads and calls emit(i) in increasing i as
// soon as item i and all before it are done, on the calling thread. `thread` is the worker's
// index in [0, threads), for per-thread state such as a LocalHasher.
void ParallelOrdered(std::size_t n, int threads, const std::function<void(int, std::size_t)>& work,
                     const std::function<void(std::size_t)>& emit);

// The number of worker threads to use by default: the machine's cores (at least 1).
int DefaultThreads();

}  // namespace hashmatch::tools

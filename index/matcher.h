// index/matcher: the in-memory lookup of known descriptors, following a Store.
//
// Owns exact PDQ range search (every stored hash within the requested distance, 0..63; default
// 31), the same over the frames of stored videos (VPDQ), and exact digest lookup (MD5, SHA-1,
// SHA-256), with the status rules: VERIFIED matches by
// default, CANDIDATE only on request, REJECTED/RETRACTED never; PDQ hashes below the quality
// floor (default 50) are kept but match only on request; the same floor decides whether a query
// hash is looked up (QueryQualityMatches). Known images inside a query video
// (MatchImagesInVideo) are grouped into time ranges here too.
//
// State: per signal, immutable indexed segments plus a small linearly scanned tail. CatchUp()
// applies the store's new changes (adds go to the tail, status changes flip a flag in place); a
// background merger seals the tail into segments and merges segments, then swaps the state
// atomically. Lookups take a reference to the current state and never wait for writers or merges.
// Start-up loads a snapshot file (format: index/SNAPSHOT.md) and replays the change log after it;
// a missing, corrupt or mismatched snapshot means a rebuild from the store, with a log line.
//
// Thread-safe: any number of concurrent lookups, with CatchUp/WriteSnapshot from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/core.h"
#include "index/store.h"

namespace hashmatch::index {

struct MatcherOptions {
  int quality_floor = 50;     // PDQ quality below this: stored, not matched by default
  std::string snapshot_path;  // empty: no snapshot (always rebuild from the store)
  int threads = 0;            // for builds and batches; 0: all cores
  bool background_merge = true;
  // Where the few operational lines go (snapshot rebuilt, merges); default: stderr.
  std::function<void(std::string_view)> log;
};

struct MatchOptions {
  static constexpr int kDefaultMaxDistance = 31;
  static constexpr int kMaxMaxDistance = 63;
  int max_distance = kDefaultMaxDistance;  // PDQ only, 0..63
  bool include_candidates = false;
  bool include_low_quality = false;
};

struct Match {
  DescriptorId id = 0;
  int distance = 0;  // 0 for digests
  DescriptorStatus status = DescriptorStatus::kVerified;
  bool low_quality = false;
};

// Video-to-video matching, as Meta's vPDQ: a stored video matches when at least
// `query_threshold_percent` of the query's distinct good-quality frames have a frame of it within
// max_distance (and at least `stored_threshold_percent` of its own distinct good frames have one
// in the query; 0 by default, reported either way).
struct VideoMatchOptions {
  MatchOptions match;
  double query_threshold_percent = 80;
  double stored_threshold_percent = 0;
};

// A stretch where the query follows the stored video: seconds from each one's start.
struct TimeRange {
  double query_start = 0, query_end = 0;
  double stored_start = 0, stored_end = 0;
};

struct VideoMatch {
  Match match;  // the VPDQ descriptor; distance: the closest frame pair
  double query_percent = 0;
  double stored_percent = 0;
  std::vector<TimeRange> ranges;  // in query order
};

// A known image seen in a query video: the closest match over its frames, and the stretches of
// the query where it shows (query times only).
struct ImageInVideo {
  Match match;
  std::vector<TimeRange> ranges;
};

struct ImagesInVideo {
  int distinct_good_frames = 0;      // the distinct frame hashes looked up
  std::vector<ImageInVideo> images;  // by first appearance, then id
};

struct MatcherStats {
  std::int64_t applied_seq = 0;
  std::size_t entries[5] = {};  // per indexed signal: PDQ, MD5, SHA1, SHA256, VPDQ frames
  std::size_t segments = 0;
  std::size_t tail_entries = 0;
  std::size_t memory_bytes = 0;
  std::int64_t merges = 0;
  std::int64_t snapshot_seq = -1;  // last snapshot written or loaded; -1: none
};

class Matcher {
 public:
  // Loads the snapshot (or rebuilds from `store`), catches up with the log, starts the merger.
  // `store` must outlive the matcher.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Matcher>> Open(Store* store,
                                                                     MatcherOptions options = {});
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Applies every change committed to the store since the last call; returns the sequence now
  // applied. After it returns, lookups see those changes.
  [[nodiscard]] absl::StatusOr<std::int64_t> CatchUp();

  // Matches sorted by distance, then id. InvalidArgument when max_distance is outside 0..63.
  [[nodiscard]] absl::StatusOr<std::vector<Match>> MatchPdq(const Pdq256& hash,
                                                            const MatchOptions& options = {}) const;
  // One result list per query, on up to `threads` cores.
  [[nodiscard]] absl::StatusOr<std::vector<std::vector<Match>>> MatchPdqBatch(
      std::span<const Pdq256> hashes, const MatchOptions& options = {}) const;
  // For each query frame, the stored videos (VPDQ descriptors) having a frame within
  // max_distance: one Match per video, its closest frame's distance, sorted by distance then id.
  // Frames of a stored video below the quality floor match only with include_low_quality.
  [[nodiscard]] absl::StatusOr<std::vector<std::vector<Match>>> MatchVideoFrames(
      std::span<const Pdq256> frames, const MatchOptions& options = {}) const;
  // Stored videos matching the query video's frames (VpdqFeature timestamps in ms), best first
  // (query percentage, then stored percentage, then id). Reads matched videos' frames from the
  // store for the reverse percentage and the time ranges.
  [[nodiscard]] absl::StatusOr<std::vector<VideoMatch>> MatchVideo(
      std::span<const VpdqFeature> query, const VideoMatchOptions& options = {}) const;
  // Known images among a query video's frames: each distinct frame at or above the quality floor
  // (every frame with include_low_quality) is looked up once in the image index; an image's
  // frames are grouped into ranges, a new one starting after a gap of more than 2.5 s (a frame a
  // second, one missed).
  [[nodiscard]] absl::StatusOr<ImagesInVideo> MatchImagesInVideo(
      std::span<const VpdqFeature> frames, const MatchOptions& options = {}) const;
  // Whether a query hash of this PDQ quality is looked up: at or above the quality floor, or any
  // with include_low_quality (a featureless image would match other featureless images).
  bool QueryQualityMatches(int quality, const MatchOptions& options) const;
  int quality_floor() const;

  // Exact digest lookup: MD5 (16 bytes), SHA1 (20), SHA256 (32).
  [[nodiscard]] absl::StatusOr<std::optional<Match>> MatchDigest(
      Signal signal, std::string_view value, const MatchOptions& options = {}) const;

  // Writes the snapshot file now (atomically: temp file, fsync, rename).
  [[nodiscard]] absl::Status WriteSnapshot();
  // Blocks until the merger has nothing left to do (tests, benchmarks).
  void WaitForMerges();
  MatcherStats Stats() const;

 private:
  struct Impl;
  explicit Matcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hashmatch::index

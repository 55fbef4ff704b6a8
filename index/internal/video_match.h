// Video-to-video matching on top of Matcher::MatchVideoFrames (matcher.h, VideoMatchOptions):
// percentages over distinct good-quality frames, and the time ranges where the query follows a
// stored video.
#pragma once

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "index/matcher.h"
#include "index/store.h"

namespace hashmatch::index::internal {

[[nodiscard]] absl::StatusOr<std::vector<VideoMatch>> MatchVideo(const Matcher& matcher,
                                                                 Store& store, int quality_floor,
                                                                 std::span<const VpdqFeature> query,
                                                                 const VideoMatchOptions& options);

// Matcher::MatchImagesInVideo.
[[nodiscard]] absl::StatusOr<ImagesInVideo> MatchImagesInVideo(const Matcher& matcher,
                                                               int quality_floor,
                                                               std::span<const VpdqFeature> frames,
                                                               const MatchOptions& options);

// Groups time-ordered (query ms, stored ms) pairs into ranges: a new range starts where the query
// skips more than `max_gap_ms` or the stored time stops advancing with it.
std::vector<TimeRange> GroupRanges(std::span<const std::pair<std::uint32_t, std::uint32_t>> pairs,
                                   std::uint32_t max_gap_ms);

}  // namespace hashmatch::index::internal

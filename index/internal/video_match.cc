#include "index/internal/video_match.h"

#include <algorithm>
#include <cstdlib>
#include <map>

#include "absl/strings/str_cat.h"

namespace hashmatch::index::internal {
namespace {

// The distinct frame hashes of a video with quality >= floor (all with include_low_quality).
std::vector<Pdq256> DistinctGoodFrames(std::span<const VpdqFeature> frames, int floor) {
  std::vector<Pdq256> out;
  for (const VpdqFeature& f : frames) {
    if (f.quality >= floor) out.push_back(f.pdq);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

bool AnyWithin(const Pdq256& h, std::span<const Pdq256> set, int max_distance) {
  return std::any_of(set.begin(), set.end(),
                     [&](const Pdq256& s) { return HammingDistance(h, s) <= max_distance; });
}

// The typical step between sampled frames (median gap), for deciding where a range breaks.
std::uint32_t TypicalStepMs(std::span<const VpdqFeature> frames) {
  std::vector<std::uint32_t> gaps;
  for (std::size_t i = 1; i < frames.size(); ++i) {
    if (frames[i].timestamp_ms > frames[i - 1].timestamp_ms) {
      gaps.push_back(frames[i].timestamp_ms - frames[i - 1].timestamp_ms);
    }
  }
  if (gaps.empty()) return 1000;
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return gaps[gaps.size() / 2];
}

}  // namespace

std::vector<TimeRange> GroupRanges(std::span<const std::pair<std::uint32_t, std::uint32_t>> pairs,
                                   std::uint32_t max_gap_ms) {
  std::vector<TimeRange> ranges;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto [q, s] = pairs[i];
    bool extend = false;
    if (i > 0) {
      const auto [pq, ps] = pairs[i - 1];
      const std::int64_t dq = std::int64_t{q} - pq, ds = std::int64_t{s} - ps;
      extend = dq <= max_gap_ms && std::llabs(ds - dq) <= max_gap_ms;
    }
    if (!extend) ranges.push_back({q / 1000.0, q / 1000.0, s / 1000.0, s / 1000.0});
    TimeRange& r = ranges.back();
    r.query_end = q / 1000.0;
    r.stored_start = std::min(r.stored_start, s / 1000.0);
    r.stored_end = std::max(r.stored_end, s / 1000.0);
  }
  return ranges;
}

absl::StatusOr<std::vector<VideoMatch>> MatchVideo(const Matcher& matcher, Store& store,
                                                   int quality_floor,
                                                   std::span<const VpdqFeature> query,
                                                   const VideoMatchOptions& options) {
  const int floor = options.match.include_low_quality ? 0 : quality_floor;
  const int radius = options.match.max_distance;
  const std::vector<Pdq256> unique = DistinctGoodFrames(query, floor);
  if (unique.empty()) return std::vector<VideoMatch>();
  HM_ASSIGN_OR_RETURN(const std::vector<std::vector<Match>> per_frame,
                      matcher.MatchVideoFrames(unique, options.match));
  std::map<DescriptorId, std::pair<int, Match>> candidates;  // id -> (frames matched, closest)
  for (const std::vector<Match>& matches : per_frame) {
    for (const Match& m : matches) {
      auto [it, inserted] = candidates.try_emplace(m.id, 0, m);
      ++it->second.first;
      if (m.distance < it->second.second.distance) it->second.second = m;
    }
  }
  const std::uint32_t max_gap = 2 * TypicalStepMs(query) + 500;
  std::vector<VideoMatch> out;
  for (const auto& [id, counted] : candidates) {
    const double query_percent = 100.0 * counted.first / static_cast<double>(unique.size());
    if (query_percent < options.query_threshold_percent) continue;
    absl::StatusOr<Descriptor> stored = store.Get(id);
    if (absl::IsNotFound(stored.status())) continue;
    if (!stored.ok()) return stored.status();
    HM_ASSIGN_OR_RETURN(const std::vector<VpdqFeature> frames, DecodeVpdq(stored->value));
    const std::vector<Pdq256> stored_unique = DistinctGoodFrames(frames, floor);
    std::size_t covered = 0;
    for (const Pdq256& s : stored_unique) covered += AnyWithin(s, unique, radius) ? 1 : 0;
    VideoMatch v;
    v.match = counted.second;
    v.query_percent = query_percent;
    v.stored_percent =
        stored_unique.empty() ? 0 : 100.0 * covered / static_cast<double>(stored_unique.size());
    if (v.stored_percent < options.stored_threshold_percent) continue;
    // Each good query frame paired with its closest stored frame; among equally close ones
    // (a still scene), the one nearest where the previous pair says the stored video should be.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs;
    for (const VpdqFeature& q : query) {
      if (q.quality < floor) continue;
      const std::int64_t expected =
          pairs.empty() ? q.timestamp_ms
                        : std::int64_t{pairs.back().second} + q.timestamp_ms - pairs.back().first;
      int best = radius + 1;
      std::int64_t best_skew = 0;
      std::uint32_t at = 0;
      for (const VpdqFeature& s : frames) {
        if (s.quality < floor) continue;
        const int d = HammingDistance(q.pdq, s.pdq);
        const std::int64_t skew = std::llabs(std::int64_t{s.timestamp_ms} - expected);
        if (d < best || (d == best && skew < best_skew))
          best = d, best_skew = skew, at = s.timestamp_ms;
      }
      if (best <= radius) pairs.emplace_back(q.timestamp_ms, at);
    }
    v.ranges = GroupRanges(pairs, max_gap);
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end(), [](const VideoMatch& a, const VideoMatch& b) {
    if (a.query_percent != b.query_percent) return a.query_percent > b.query_percent;
    if (a.stored_percent != b.stored_percent) return a.stored_percent > b.stored_percent;
    return a.match.id < b.match.id;
  });
  return out;
}

absl::StatusOr<ImagesInVideo> MatchImagesInVideo(const Matcher& matcher, int quality_floor,
                                                 std::span<const VpdqFeature> frames,
                                                 const MatchOptions& options) {
  const int floor = options.include_low_quality ? 0 : quality_floor;
  const std::vector<Pdq256> distinct = DistinctGoodFrames(frames, floor);
  HM_ASSIGN_OR_RETURN(const std::vector<std::vector<Match>> found,
                      matcher.MatchPdqBatch(distinct, options));
  std::map<DescriptorId, std::vector<std::pair<std::uint32_t, std::uint32_t>>> seen;
  std::map<DescriptorId, Match> closest;
  for (const VpdqFeature& f : frames) {
    if (f.quality < floor) continue;
    const auto at = std::lower_bound(distinct.begin(), distinct.end(), f.pdq) - distinct.begin();
    for (const Match& match : found[static_cast<std::size_t>(at)]) {
      seen[match.id].emplace_back(f.timestamp_ms, 0);
      auto [it, inserted] = closest.try_emplace(match.id, match);
      if (match.distance < it->second.distance) it->second = match;
    }
  }
  ImagesInVideo out;
  out.distinct_good_frames = static_cast<int>(distinct.size());
  constexpr std::uint32_t kMaxGapMs = 2500;  // a frame per second, one missed
  for (auto& [id, times] : seen) {
    out.images.push_back({closest[id], GroupRanges(times, kMaxGapMs)});
  }
  std::sort(out.images.begin(), out.images.end(), [](const auto& a, const auto& b) {
    return std::tie(a.ranges[0].query_start, a.match.id) <
           std::tie(b.ranges[0].query_start, b.match.id);
  });
  return out;
}

}  // namespace hashmatch::index::internal

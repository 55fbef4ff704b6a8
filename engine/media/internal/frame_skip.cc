#include "engine/media/internal/frame_skip.h"

#include <algorithm>

namespace hashmatch::media::internal {

std::int64_t FrameSkipPlan::Rank(std::int64_t pts) const {
  return std::lower_bound(sorted_pts_.begin(), sorted_pts_.end(), pts) - sorted_pts_.begin();
}

bool FrameSkipPlan::AddPacket(std::int64_t pts) {
  // A packet displayed before a frame already output would shift that frame's number.
  if (last_output_ && pts <= *last_output_) return false;
  // Packets arrive almost in pts order: the insertion point is near the end.
  auto at = sorted_pts_.end();
  while (at != sorted_pts_.begin() && *(at - 1) >= pts) {
    if (*(at - 1) == pts) return false;
    --at;
  }
  sorted_pts_.insert(at, pts);
  return true;
}

bool FrameSkipPlan::MaySkip(std::int64_t pts) {
  // Packets displayed earlier but decoded later would raise the rank; Consistent() rechecks.
  if (wants_(Rank(pts))) {
    awaited_.insert(pts);
    return false;
  }
  skippable_.push_back(pts);
  return true;
}

std::optional<std::int64_t> FrameSkipPlan::Output(std::int64_t pts) {
  if (last_output_ && pts <= *last_output_) return std::nullopt;  // not in pts order
  if (!std::binary_search(sorted_pts_.begin(), sorted_pts_.end(), pts)) return std::nullopt;
  last_output_ = pts;
  awaited_.erase(pts);
  const std::int64_t number = Rank(pts);
  given_.emplace_back(pts, number);
  return number;
}

bool FrameSkipPlan::Consistent() const {
  if (!awaited_.empty()) return false;
  for (const auto& [pts, number] : given_) {
    if (Rank(pts) != number) return false;
  }
  // A packet may have been let go on a rank that packets read later raised to a wanted one: fine
  // if the decoder kept it anyway (a reference frame).
  const auto output = [this](std::int64_t pts) {
    return std::binary_search(given_.begin(), given_.end(), std::pair{pts, Rank(pts)});
  };
  return std::none_of(skippable_.begin(), skippable_.end(),
                      [&](std::int64_t pts) { return wants_(Rank(pts)) && !output(pts); });
}

}  // namespace hashmatch::media::internal

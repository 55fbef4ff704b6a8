// Reads and writes the matcher's snapshot file (format: index/SNAPSHOT.md).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/internal/segment.h"

namespace hashmatch::index::internal {

inline constexpr std::uint32_t kSnapshotVersion = 2;

struct SnapshotContents {
  std::string store_id;
  std::int64_t applied_seq = 0;
  std::int32_t quality_floor = 0;
  std::array<std::vector<std::shared_ptr<const Segment>>, kIndexedSignals.size()> segments;
  std::array<SegmentInput, kIndexedSignals.size()> tails;  // entries not yet in a segment
};

// Writes `contents` to `path` + ".tmp", syncs it, renames it over `path` and syncs the folder.
[[nodiscard]] absl::Status WriteSnapshotFile(const std::string& path,
                                             const SnapshotContents& contents);

// NotFound when there is no file; DataLoss naming the field and offset when it is truncated,
// corrupt (checksum) or of another version.
[[nodiscard]] absl::StatusOr<SnapshotContents> ReadSnapshotFile(const std::string& path);

}  // namespace hashmatch::index::internal

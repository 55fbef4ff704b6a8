// The SQLite store's schema, as numbered migrations (PRAGMA user_version): a store created by an
// older build is brought forward on open; one from a newer build is refused.
#pragma once

#include <sqlite3.h>

#include "absl/status/status.h"

namespace hashmatch::index::internal {

inline constexpr int kStoreSchemaVersion = 3;
// PRAGMA application_id of every hashmatch store ("HMST"): tells our files from others.
inline constexpr int kStoreApplicationId = 0x484D5354;

// Applies the migrations after the file's user_version up to `target` (tests migrate to older
// versions to check upgrades), each in its own transaction.
[[nodiscard]] absl::Status MigrateStore(sqlite3* db, int target = kStoreSchemaVersion);

}  // namespace hashmatch::index::internal

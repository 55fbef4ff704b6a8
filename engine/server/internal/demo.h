// engine/server/internal/demo: hashmatchd --demo. Loads the public test images and videos as
// VERIFIED descriptors (idempotent: the store merges repeats) and keeps one API key per role in
// DATA/demo-keys.json (JSON object role -> key, mode 0600; reused across restarts while its keys
// still authenticate). Internal to engine/server; called once at start, before serving, from one
// thread.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/server/internal/keys.h"
#include "index/store.h"

namespace hashmatch::server {

// Hashes every file under `folders` (files that are not images or videos are skipped) and adds
// the descriptors. Returns how many descriptors were sent to the store.
[[nodiscard]] absl::StatusOr<std::size_t> LoadDemoDescriptors(
    const std::vector<std::string>& folders, index::Store* store);

// Reuses `path` when it names a working key for every role; otherwise creates new keys and
// writes them there atomically. Returns whether the file was reused.
[[nodiscard]] absl::StatusOr<bool> EnsureDemoKeys(const std::string& path, KeyTable* keys);

}  // namespace hashmatch::server

// The benchmarks' --json output: one nlohmann::json document per run (NaN and infinities become
// null, names are escaped), written whole or not at all.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/sys/sys.h"

namespace hashmatch::bench {

// Writes `figures` to `path` (nothing when `path` is empty); a failure is reported on stderr.
inline bool WriteJson(const std::string& path, const nlohmann::json& figures) {
  if (path.empty()) return true;
  const absl::Status written = sys::WriteFileAtomic(path, figures.dump(2) + "\n");
  if (!written.ok()) {
    std::fprintf(stderr, "--json: %s\n", std::string(written.message()).c_str());
    return false;
  }
  return true;
}

}  // namespace hashmatch::bench

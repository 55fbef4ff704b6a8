#include "tools/common/local_hash.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/testing/temp_dir.h"

namespace hashmatch::tools {
namespace {
namespace fs = std::filesystem;

using testing::TempDir;

TEST_CASE("folders expand recursively in sorted order, files stay as given", "[tools]") {
  TempDir dir;
  dir.Write("b.jpg", "x");
  dir.Write("a/z.png", "x");
  dir.Write("a/c.png", "x");
  const auto files = ListInputFiles({dir.path.string(), (dir.path / "b.jpg").string()});
  REQUIRE(files.ok());
  const std::string p = dir.path.string();
  CHECK(*files ==
        std::vector<std::string>{p + "/a/c.png", p + "/a/z.png", p + "/b.jpg", p + "/b.jpg"});
}

TEST_CASE("a missing path is an error naming it", "[tools]") {
  const auto files = ListInputFiles({"/nonexistent/hm-test"});
  REQUIRE(files.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(files.status().message()) == "/nonexistent/hm-test: no such file or folder");
}

TEST_CASE("files over the byte limit are refused before reading", "[tools]") {
  TempDir dir;
  dir.Write("big", std::string(1000, 'x'));
  const std::string path = (dir.path / "big").string();
  CHECK(ReadFileBounded(path, 1000)->size() == 1000);
  const auto refused = ReadFileBounded(path, 999);
  CHECK(std::string(refused.status().message()) ==
        path + ": 1000 bytes, over the limit of 999 bytes");
}

TEST_CASE("ParallelOrdered runs every item once and emits in order", "[tools]") {
  for (int threads : {1, 2, 7}) {
    std::vector<std::atomic<int>> runs(500);
    std::vector<std::size_t> emitted;
    ParallelOrdered(
        runs.size(), threads, [&](int, std::size_t i) { runs[i]++; },
        [&](std::size_t i) {
          CHECK(runs[i] == 1);
          emitted.push_back(i);
        });
    REQUIRE(emitted.size() == runs.size());
    for (std::size_t i = 0; i < emitted.size(); ++i) CHECK(emitted[i] == i);
  }
}

}  // namespace
}  // namespace hashmatch::tools

#include "engine/sys/sys.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/testing/temp_dir.h"

namespace hashmatch::sys {
namespace {
namespace fs = std::filesystem;

using testing::TempDir;

TEST_CASE("folders expand recursively in sorted order, files stay as given", "[sys]") {
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

TEST_CASE("a missing path is an error naming it", "[sys]") {
  const auto files = ListInputFiles({"/nonexistent/hm-test"});
  REQUIRE(files.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(files.status().message()) == "/nonexistent/hm-test: no such file or folder");
}

TEST_CASE("files over the byte limit are refused before reading", "[sys]") {
  TempDir dir;
  dir.Write("big", std::string(1000, 'x'));
  const std::string path = (dir.path / "big").string();
  CHECK(ReadFileBounded(path, 1000)->size() == 1000);
  const auto refused = ReadFileBounded(path, 999);
  CHECK(std::string(refused.status().message()) ==
        path + ": 1000 bytes, over the limit of 999 bytes");
}

TEST_CASE("ParallelOrdered runs every item once and emits in order", "[sys]") {
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

TEST_CASE("ParallelFor runs every worker once, also nested and from several threads", "[sys]") {
  for (int workers : {1, 2, 5}) {
    std::vector<std::atomic<int>> runs(static_cast<std::size_t>(workers));
    ParallelFor(workers, [&](int w) {
      runs[static_cast<std::size_t>(w)]++;
      // A nested call must not wait on the pool its caller occupies.
      std::atomic<int> inner{0};
      ParallelFor(3, [&](int) { inner++; });
      CHECK(inner == 3);
    });
    for (const auto& r : runs) CHECK(r == 1);
  }
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int k = 0; k < 50; ++k) ParallelFor(2, [&](int) { total++; });
    });
  }
  for (std::thread& t : callers) t.join();
  CHECK(total == 4 * 50 * 2);
}

TEST_CASE("WriteFileAtomic replaces a file whole, with the mode asked for", "[sys]") {
  TempDir dir;
  const std::string path = (dir.path / "f.json").string();
  REQUIRE(WriteFileAtomic(path, "first", 0600).ok());
  REQUIRE(WriteFileAtomic(path, "second", 0600).ok());
  CHECK(*ReadFileBoundedString(path, 100) == "second");
  CHECK((fs::status(path).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(!fs::exists(path + ".tmp"));
  const absl::Status missing_folder = WriteFileAtomic((dir.path / "no/f").string(), "x");
  CHECK(missing_folder.code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(missing_folder.message()),
             Catch::Contains("no/f.tmp: No such file or directory"));
}

TEST_CASE("a second WriterLock on the same file is refused until the first is gone", "[sys]") {
  TempDir dir;
  const std::string path = (dir.path / "x.lock").string();
  {
    absl::StatusOr<WriterLock> first = WriterLock::Acquire(path);
    REQUIRE(first.ok());
    // flock locks belong to the open file description: a second open in this process conflicts
    // like another process would.
    const absl::StatusOr<WriterLock> second = WriterLock::Acquire(path);
    CHECK(second.status().code() == absl::StatusCode::kFailedPrecondition);
  }
  CHECK(WriterLock::Acquire(path).ok());
}

TEST_CASE("log values are quoted so that input cannot forge lines or fields", "[sys]") {
  CHECK(QuoteLogValue("plain") == "\"plain\"");
  CHECK(QuoteLogValue("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(QuoteLogValue("x\nlevel=error msg=\"forged\"") == "\"x\\nlevel=error msg=\\\"forged\\\"\"");
  CHECK(QuoteLogValue(std::string("\x01\x7f", 2)) == "\"\\x01\\x7f\"");
}

TEST_CASE("the clocks move forward", "[sys]") {
  const std::int64_t wall = NowMs();
  CHECK(wall > 1'700'000'000'000);  // after Nov 2023
  const double a = MonotonicSeconds();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  CHECK(MonotonicSeconds() - a >= 0.004);
}

}  // namespace
}  // namespace hashmatch::sys

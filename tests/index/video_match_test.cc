// Video-to-video matching over a real SQLite store: percentages both ways, the threshold, time
// ranges, status rules, low-quality frames, and VPDQ frames surviving a snapshot reload.
#include "index/internal/video_match.h"

#include <catch2/catch.hpp>
#include <random>

#include "index/matcher.h"
#include "tests/index/index_test_util.h"
#include "tests/testing/temp_dir.h"

namespace hashmatch::index {
namespace {

using testing::AsPdq;
using testing::Flipped;
using testing::Police;
using testing::RandomBytes;

// A video of `n` one-second scenes with random frame hashes.
std::vector<VpdqFeature> RandomVideo(std::mt19937_64& rng, int n, std::uint32_t start_ms = 0) {
  std::vector<VpdqFeature> frames(n);
  for (int i = 0; i < n; ++i) {
    frames[i].pdq = AsPdq(RandomBytes(rng, 32));
    frames[i].quality = 100;
    frames[i].timestamp_ms = start_ms + 1000u * i;
  }
  return frames;
}

NewDescriptor Video(const std::vector<VpdqFeature>& frames,
                    DescriptorStatus status = DescriptorStatus::kVerified) {
  return {Signal::kVpdq, EncodeVpdq(frames), -1, "A1", status};
}

struct Fixture {
  hashmatch::testing::TempDir dir;
  std::unique_ptr<Store> store = *OpenSqliteStore(dir.File("store.db"));
  std::unique_ptr<Matcher> Open() {
    MatcherOptions options;
    options.snapshot_path = dir.File("index.snapshot");
    options.background_merge = false;
    options.log = [](std::string_view) {};
    absl::StatusOr<std::unique_ptr<Matcher>> m = Matcher::Open(store.get(), options);
    REQUIRE(m.ok());
    return *std::move(m);
  }
};

TEST_CASE("a stored video matches its re-encoded copy and clips of it, not unrelated video",
          "[index][video]") {
  std::mt19937_64 rng(7);
  Fixture f;
  const std::vector<VpdqFeature> known = RandomVideo(rng, 20);
  const std::vector<VpdqFeature> other = RandomVideo(rng, 20);
  const absl::StatusOr<AddResult> added = f.store->Add(Police(), {{Video(known), Video(other)}});
  REQUIRE(added.ok());
  const DescriptorId known_id = added->ids[0];
  auto matcher = f.Open();

  // A re-encoded copy: every frame a few bits off, shifted by 0.5 s.
  std::vector<VpdqFeature> copy = known;
  for (VpdqFeature& frame : copy) {
    frame.pdq = AsPdq(Flipped(rng, std::string(frame.pdq.bytes.begin(), frame.pdq.bytes.end()), 6));
    frame.timestamp_ms += 500;
  }
  absl::StatusOr<std::vector<VideoMatch>> got = matcher->MatchVideo(copy);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK((*got)[0].match.id == known_id);
  CHECK((*got)[0].match.distance == 6);
  CHECK((*got)[0].query_percent == 100);
  CHECK((*got)[0].stored_percent == 100);
  REQUIRE((*got)[0].ranges.size() == 1);
  CHECK((*got)[0].ranges[0].query_start == 0.5);
  CHECK((*got)[0].ranges[0].query_end == 19.5);
  CHECK((*got)[0].ranges[0].stored_start == 0);
  CHECK((*got)[0].ranges[0].stored_end == 19);

  // A clip of seconds 5..14 inside 2 s of unrelated frames: 10 of 12 distinct frames (83 %).
  std::vector<VpdqFeature> clip = RandomVideo(rng, 2);
  for (int i = 5; i < 15; ++i) {
    clip.push_back(known[i]);
    clip.back().timestamp_ms = 2000u + 1000u * (i - 5);
  }
  got = matcher->MatchVideo(clip);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK((*got)[0].query_percent == Approx(100.0 * 10 / 12));
  CHECK((*got)[0].stored_percent == 50);
  REQUIRE((*got)[0].ranges.size() == 1);
  CHECK((*got)[0].ranges[0].query_start == 2);
  CHECK((*got)[0].ranges[0].stored_start == 5);
  CHECK((*got)[0].ranges[0].stored_end == 14);

  // The same clip at a 90 % threshold does not match; an unrelated video never does.
  VideoMatchOptions strict;
  strict.query_threshold_percent = 90;
  CHECK(matcher->MatchVideo(clip, strict)->empty());
  CHECK(matcher->MatchVideo(RandomVideo(rng, 20))->empty());

  // Retracted: no longer matches (after CatchUp), and the snapshot keeps the frames.
  REQUIRE(f.store->SetStatus(known_id, DescriptorStatus::kRetracted, "police", "test").ok());
  REQUIRE(matcher->CatchUp().ok());
  CHECK(matcher->MatchVideo(copy)->empty());
  REQUIRE(matcher->WriteSnapshot().ok());
  matcher.reset();
  matcher = f.Open();
  CHECK(matcher->Stats().entries[4] == 40);
  CHECK(matcher->MatchVideo(copy)->empty());
  got = matcher->MatchVideo(other);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK((*got)[0].match.id == added->ids[1]);
}

TEST_CASE("low-quality frames neither count nor match, and video frames are not images",
          "[index][video]") {
  std::mt19937_64 rng(8);
  Fixture f;
  std::vector<VpdqFeature> known = RandomVideo(rng, 10);
  for (int i = 0; i < 5; ++i) known[i].quality = 10;
  REQUIRE(f.store->Add(Police(), {{Video(known)}}).ok());
  auto matcher = f.Open();
  // Only the 5 good frames count on the stored side: a query of them alone is 100 % both ways.
  const std::vector<VpdqFeature> good(known.begin() + 5, known.end());
  absl::StatusOr<std::vector<VideoMatch>> got = matcher->MatchVideo(good);
  REQUIRE(got.ok());
  REQUIRE(got->size() == 1);
  CHECK((*got)[0].stored_percent == 100);
  // A query of only the low-quality frames has nothing to match with.
  const std::vector<VpdqFeature> poor(known.begin(), known.begin() + 5);
  CHECK(matcher->MatchVideo(poor)->empty());
  // Frames of stored videos are not images.
  CHECK(matcher->MatchPdq(known[7].pdq)->empty());
}

TEST_CASE("the store refuses malformed VPDQ values, naming the item", "[index][video]") {
  Fixture f;
  std::string value = EncodeVpdq(std::vector<VpdqFeature>(2));
  value.pop_back();
  const absl::StatusOr<AddResult> r =
      f.store->Add(Police(), {{{Signal::kVpdq, value, -1, "A1", DescriptorStatus::kVerified}}});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("item 0: VPDQ value"));
}

TEST_CASE("time ranges break where the query skips or the stored time jumps", "[index][video]") {
  const std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs = {
      {0, 10000},    {1000, 11000}, {2000, 12000},  // follows stored 10..12 s
      {3000, 40000}, {4000, 41000},                 // jumps to stored 40 s
      {9000, 42000}};                               // a query gap of 5 s
  const std::vector<TimeRange> ranges = internal::GroupRanges(pairs, 2500);
  REQUIRE(ranges.size() == 3);
  CHECK(ranges[0].query_end == 2);
  CHECK(ranges[0].stored_start == 10);
  CHECK(ranges[0].stored_end == 12);
  CHECK(ranges[1].query_start == 3);
  CHECK(ranges[1].stored_start == 40);
  CHECK(ranges[2].query_start == 9);
}

}  // namespace
}  // namespace hashmatch::index

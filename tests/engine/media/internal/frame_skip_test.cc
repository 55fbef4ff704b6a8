#include "engine/media/internal/frame_skip.h"

#include <catch2/catch.hpp>

namespace hashmatch::media::internal {
namespace {

bool EveryFourth(std::int64_t number) { return number % 4 == 0; }

TEST_CASE("frame skip: B-frame decode order numbers frames as a full decode does") {
  // Display 0..7, decode order I0 P4 B2 b1 b3 P8... with 4..7 as P4 b5 B6 b7 shifted: a typical
  // B-pyramid. Output comes in pts order once the reorder delay is filled.
  FrameSkipPlan plan(EveryFourth);
  const std::int64_t decode_order[] = {0, 4, 2, 1, 3, 8, 6, 5, 7};
  std::vector<bool> may_skip;
  for (const std::int64_t pts : decode_order) {
    REQUIRE(plan.AddPacket(pts * 10));
    may_skip.push_back(plan.MaySkip(pts * 10));
  }
  // 0 is wanted. P4 and P8 are read before the frames displayed ahead of them, at ranks 1 and
  // 5: let go, but as reference frames the decoder keeps them.
  CHECK(may_skip == std::vector<bool>{false, true, true, true, true, true, true, true, true});
  // The decoder dropped the non-reference b1, b3, b5, b7 and output the others in pts order.
  for (const std::int64_t pts : {0, 2, 4, 6, 8}) {
    const std::optional<std::int64_t> number = plan.Output(pts * 10);
    REQUIRE(number.has_value());
    CHECK(*number == pts);
  }
  CHECK(plan.Consistent());
  CHECK(plan.packets() == 9);
}

TEST_CASE("frame skip: a wanted frame that never comes out fails the plan") {
  FrameSkipPlan plan(EveryFourth);
  for (const std::int64_t pts : {0, 1, 2, 3, 4}) {
    REQUIRE(plan.AddPacket(pts));
    (void)plan.MaySkip(pts);
  }
  REQUIRE(plan.Output(0) == 0);
  REQUIRE(plan.Output(2) == 2);
  CHECK_FALSE(plan.Consistent());  // 4 was wanted
  REQUIRE(plan.Output(4) == 4);
  CHECK(plan.Consistent());
}

TEST_CASE("frame skip: a frame let go on a rank later packets raise must come out") {
  FrameSkipPlan plan(EveryFourth);
  REQUIRE(plan.AddPacket(0));
  CHECK_FALSE(plan.MaySkip(0));
  REQUIRE(plan.AddPacket(40));  // rank 1 when decided: skippable
  CHECK(plan.MaySkip(40));
  for (const std::int64_t pts : {10, 20, 30}) {  // displayed before it: its rank becomes 4
    REQUIRE(plan.AddPacket(pts));
    (void)plan.MaySkip(pts);
  }
  REQUIRE(plan.Output(0) == 0);
  CHECK_FALSE(plan.Consistent());  // the decoder dropped 40, now frame 4: wanted
  REQUIRE(plan.Output(40) == 4);   // a reference frame: decoded all the same
  CHECK(plan.Consistent());
}

TEST_CASE("frame skip: duplicate timestamps and out-of-order output rule the plan out") {
  FrameSkipPlan plan(EveryFourth);
  REQUIRE(plan.AddPacket(0));
  REQUIRE(plan.AddPacket(20));
  CHECK_FALSE(plan.AddPacket(20));
  REQUIRE(plan.Output(20) == 1);
  CHECK_FALSE(plan.Output(0).has_value());   // before a frame already output
  CHECK_FALSE(plan.AddPacket(10));           // would renumber the frame already output
  CHECK_FALSE(plan.Output(30).has_value());  // never read
}

TEST_CASE("frame skip: a number handed out must stay the frame's final rank") {
  FrameSkipPlan plan(EveryFourth);
  REQUIRE(plan.AddPacket(0));
  (void)plan.MaySkip(0);
  REQUIRE(plan.AddPacket(30));
  (void)plan.MaySkip(30);
  REQUIRE(plan.Output(0) == 0);
  CHECK(plan.Consistent());
  REQUIRE(plan.AddPacket(10));  // after 0's output, before 30's: numbers given so far still hold
  (void)plan.MaySkip(10);
  REQUIRE(plan.Output(10) == 1);
  REQUIRE(plan.Output(30) == 2);
  CHECK(plan.Consistent());
}

}  // namespace
}  // namespace hashmatch::media::internal

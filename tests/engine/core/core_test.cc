#include "engine/core/core.h"

#include <catch2/catch.hpp>

namespace hashmatch {
namespace {

constexpr char kHex[] = "6ddb9264ada742cb90a6694b32cbc92566dbb227c937724993276cdb122692ae";

TEST_CASE("hex round-trips and accepts upper case", "[core]") {
  auto h = ParseHex<Pdq256>(kHex);
  REQUIRE(h.ok());
  CHECK(h->ToHex() == kHex);
  auto upper = ParseHex<Pdq256>("6DDB9264ADA742CB90A6694B32CBC92566DBB227C937724993276CDB122692AE");
  REQUIRE(upper.ok());
  CHECK(*upper == *h);
  CHECK(h->bytes[0] == 0x6d);
  CHECK(h->bytes[31] == 0xae);
}

TEST_CASE("hex errors name the kind, the length and the bad character", "[core]") {
  auto short_hex = ParseHex<Pdq256>("abc");
  REQUIRE(short_hex.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(short_hex.status().message()) == "PDQ hash: expected 64 hex characters, got 3");

  std::string bad = kHex;
  bad[5] = 'g';
  auto bad_char = ParseHex<Pdq256>(bad);
  REQUIRE(!bad_char.ok());
  CHECK(std::string(bad_char.status().message()) ==
        "PDQ hash: 'g' at position 5 is not a hex digit");

  auto md5 = ParseHex<Md5>(kHex);
  REQUIRE(!md5.ok());
  CHECK(std::string(md5.status().message()) == "MD5: expected 32 hex characters, got 64");

  auto control = ParseHex<Sha1>(std::string(39, 'a') + '\n');
  REQUIRE(!control.ok());
  CHECK(std::string(control.status().message()).find("byte 0x0a at position 39") !=
        std::string::npos);
}

TEST_CASE("DecodeHex takes any even length and names the first bad character", "[core]") {
  CHECK(*DecodeHex("") == "");
  CHECK(*DecodeHex("00fFa0") == std::string("\x00\xff\xa0", 3));
  CHECK(std::string(DecodeHex("abc").status().message()) == "odd number of hex digits (3)");
  CHECK(std::string(DecodeHex("12x4").status().message()) ==
        "'x' at position 2 is not a hex digit");
}

TEST_CASE("PDQ bit numbering follows the reference's word order", "[core]") {
  // Bit k = 16*i + j is bit j of word i; the hex prints word 15 first, so bit 0 is the lowest
  // bit of the last hex digit and bit 255 the highest bit of the first.
  Pdq256 h;
  SetPdqBit(h, 0);
  CHECK(h.ToHex() == std::string(63, '0') + "1");
  Pdq256 top;
  SetPdqBit(top, 255);
  CHECK(top.ToHex() == "8" + std::string(63, '0'));
  Pdq256 nine;
  SetPdqBit(nine, 9);  // word 0, bit 9 -> hex "0200" at the end
  CHECK(nine.ToHex() == std::string(60, '0') + "0200");
  for (int k = 0; k < 256; ++k) {
    Pdq256 one;
    SetPdqBit(one, k);
    CHECK(GetPdqBit(one, k));
    CHECK(PopCount(one) == 1);
  }
}

TEST_CASE("Hamming distance counts differing bits", "[core]") {
  const Pdq256 a = *ParseHex<Pdq256>(kHex);
  Pdq256 b = a;
  CHECK(HammingDistance(a, b) == 0);
  b.bytes[0] ^= 0x01;
  b.bytes[31] ^= 0xF0;
  CHECK(HammingDistance(a, b) == 5);
  Pdq256 all;
  all.bytes.fill(0xFF);
  CHECK(HammingDistance(Pdq256{}, all) == 256);
}

TEST_CASE("status macros propagate errors and values", "[core]") {
  auto parse = [](std::string_view hex) -> absl::StatusOr<int> {
    HM_ASSIGN_OR_RETURN(const Pdq256 h, ParseHex<Pdq256>(hex));
    return PopCount(h);
  };
  auto check = [](bool ok) -> absl::Status {
    HM_RETURN_IF_ERROR(ok ? absl::OkStatus() : absl::NotFoundError("x"));
    return absl::OkStatus();
  };
  CHECK(parse(kHex).ok());
  CHECK(parse("zz").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(check(true).ok());
  CHECK(check(false).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("VPDQ values round-trip and malformed ones are refused with the frame index", "[core]") {
  std::vector<VpdqFeature> frames(3);
  for (int i = 0; i < 3; ++i) {
    frames[i].pdq = *ParseHex<Pdq256>(kHex);
    frames[i].pdq.bytes[0] = static_cast<std::uint8_t>(i);
    frames[i].quality = 90 + i;
    frames[i].timestamp_ms = 1000u * i + 70000u * 1000u;  // past 16 bits on purpose
  }
  const std::string value = EncodeVpdq(frames);
  CHECK(value.size() == 1 + 3 * kVpdqFrameBytes);
  const absl::StatusOr<std::vector<VpdqFeature>> back = DecodeVpdq(value);
  REQUIRE(back.ok());
  for (int i = 0; i < 3; ++i) {
    CHECK((*back)[i].pdq == frames[i].pdq);
    CHECK((*back)[i].quality == frames[i].quality);
    CHECK((*back)[i].timestamp_ms == frames[i].timestamp_ms);
  }
  const auto error = [](const std::string& v) {
    return std::string(DecodeVpdq(v).status().message());
  };
  CHECK_THAT(error(""), Catch::Contains("not version 1"));
  CHECK_THAT(error("\x01"), Catch::Contains("positive multiple of 37"));
  CHECK_THAT(error(value.substr(0, value.size() - 1)), Catch::Contains("positive multiple"));
  std::string bad_quality = value;
  bad_quality[1 + kVpdqFrameBytes + 4] = static_cast<char>(101);
  CHECK_THAT(error(bad_quality), Catch::Contains("frame 1 has quality 101"));
  std::swap(frames[0], frames[2]);
  CHECK_THAT(error(EncodeVpdq(frames)), Catch::Contains("frame 1 goes back in time"));
}

}  // namespace
}  // namespace hashmatch

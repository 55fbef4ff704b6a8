#include <catch2/catch.hpp>
#include <string_view>

#include "engine/hash/hash.h"

namespace hashmatch::hash {
namespace {

std::span<const std::uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST_CASE("digests of 'abc' match the published test vectors", "[digest]") {
  auto d = ComputeDigests(Bytes("abc"));
  REQUIRE(d.ok());
  CHECK(d->md5.ToHex() == "900150983cd24fb0d6963f7d28e17f72");
  CHECK(d->sha1.ToHex() == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(d->sha256.ToHex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("digests of empty input", "[digest]") {
  auto d = ComputeDigests({});
  REQUIRE(d.ok());
  CHECK(d->md5.ToHex() == "d41d8cd98f00b204e9800998ecf8427e");
  CHECK(d->sha1.ToHex() == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(d->sha256.ToHex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace hashmatch::hash

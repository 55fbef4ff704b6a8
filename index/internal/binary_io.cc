#include "index/internal/binary_io.h"

#include <nmmintrin.h>  // SSE4.2 crc32: part of the x86-64-v2 baseline we build for

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace hashmatch::index::internal {

std::uint32_t Crc32c(std::uint32_t crc, const void* data, std::size_t size) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::uint64_t c = ~crc;
  for (; size >= 8; size -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; size > 0; --size, ++p) c32 = _mm_crc32_u8(c32, *p);
  return ~c32;
}

void BinaryWriter::Bytes(const void* data, std::size_t size) {
  if (!status_.ok() || size == 0) return;
  if (std::fwrite(data, 1, size, file_) != size) {
    status_ = absl::InternalError(
        absl::StrCat("write failed at byte ", offset_, ": ", std::strerror(errno)));
    return;
  }
  crc_ = Crc32c(crc_, data, size);
  offset_ += size;
}

bool BinaryReader::Bytes(void* out, std::size_t size, const char* what) {
  if (!status_.ok()) return false;
  if (size > remaining()) {
    return Fail(what, absl::StrCat("needs ", size, " bytes, ", remaining(), " left"));
  }
  if (size > 0 && std::fread(out, 1, size, file_) != size) {
    return Fail(what, absl::StrCat("could not be read: ", std::strerror(errno)));
  }
  crc_ = Crc32c(crc_, out, size);
  offset_ += size;
  return true;
}

bool BinaryReader::Fail(const char* what, const std::string& why) {
  if (status_.ok()) {
    status_ = absl::DataLossError(absl::StrCat(what, " at byte ", offset_, " ", why));
  }
  return false;
}

}  // namespace hashmatch::index::internal

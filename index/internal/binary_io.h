// Little-endian binary records for the snapshot file: a writer and a bounds-checked reader, both
// streaming through a FILE and both checksumming what passes (CRC-32C), so that a file of any
// size is read without a second copy in memory. Errors are sticky: after the first one, later
// calls do nothing, and status() names the first failure and its byte offset.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"

namespace hashmatch::index::internal {

// CRC-32C (Castagnoli) of `data`, continuing from `crc` (0 to start).
std::uint32_t Crc32c(std::uint32_t crc, const void* data, std::size_t size);

class BinaryWriter {
 public:
  explicit BinaryWriter(std::FILE* file) : file_(file) {}

  void Bytes(const void* data, std::size_t size);
  template <typename T>
  void Pod(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    Bytes(&value, sizeof(T));
  }
  template <typename T, typename Allocator>
  void Vector(const std::vector<T, Allocator>& values) {
    Pod<std::uint64_t>(values.size());
    Bytes(values.data(), values.size() * sizeof(T));
  }

  std::uint32_t crc() const { return crc_; }
  const absl::Status& status() const { return status_; }

 private:
  std::FILE* file_;
  std::uint32_t crc_ = 0;
  std::uint64_t offset_ = 0;
  absl::Status status_;
};

class BinaryReader {
 public:
  // Reads `size` bytes from `file` at most.
  BinaryReader(std::FILE* file, std::uint64_t size) : file_(file), size_(size) {}

  // Each returns false (and sets status()) when the data ends early or a count exceeds `max`.
  bool Bytes(void* out, std::size_t size, const char* what);
  template <typename T>
  bool Pod(T* value, const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    return Bytes(value, sizeof(T), what);
  }
  template <typename T, typename Allocator>
  bool Vector(std::vector<T, Allocator>* values, std::uint64_t max_count, const char* what) {
    std::uint64_t count = 0;
    if (!Pod(&count, what)) return false;
    if (count > max_count || count > remaining() / sizeof(T)) {
      return Fail(what, "has an impossible element count " + std::to_string(count));
    }
    values->resize(count);
    return Bytes(values->data(), count * sizeof(T), what);
  }
  bool Fail(const char* what, const std::string& why);

  std::uint64_t offset() const { return offset_; }
  std::uint64_t remaining() const { return size_ - offset_; }
  std::uint32_t crc() const { return crc_; }
  const absl::Status& status() const { return status_; }

 private:
  std::FILE* file_;
  std::uint64_t size_;
  std::uint64_t offset_ = 0;
  std::uint32_t crc_ = 0;
  absl::Status status_;
};

}  // namespace hashmatch::index::internal

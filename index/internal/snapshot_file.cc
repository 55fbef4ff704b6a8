#include "index/internal/snapshot_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "engine/sys/sys.h"
#include "index/internal/binary_io.h"

namespace hashmatch::index::internal {
namespace {

constexpr char kMagic[8] = {'H', 'M', 'S', 'N', 'A', 'P', '\r', '\n'};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

absl::Status Errno(const std::string& what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status WriteSnapshotFile(const std::string& path, const SnapshotContents& contents) {
  return sys::WriteFileAtomicWith(path, 0600, [&](std::FILE* file) -> absl::Status {
    std::setvbuf(file, nullptr, _IOFBF, 1 << 20);
    BinaryWriter out(file);
    out.Bytes(kMagic, sizeof(kMagic));
    out.Pod(kSnapshotVersion);
    out.Vector(std::vector<char>(contents.store_id.begin(), contents.store_id.end()));
    out.Pod(contents.applied_seq);
    out.Pod(contents.quality_floor);
    for (std::size_t slot = 0; slot < kIndexedSignals.size(); ++slot) {
      out.Pod(static_cast<std::uint32_t>(kIndexedSignals[slot]));
      out.Pod<std::uint64_t>(contents.segments[slot].size());
      for (const auto& segment : contents.segments[slot]) segment->Save(out);
      out.Vector(contents.tails[slot].values);
      out.Vector(contents.tails[slot].labels);
      out.Vector(contents.tails[slot].flags);
    }
    const std::uint32_t crc = out.crc();
    HM_RETURN_IF_ERROR(out.status());
    if (std::fwrite(&crc, 4, 1, file) != 1) return Errno("writing " + path + ".tmp");
    return absl::OkStatus();
  });
}

absl::StatusOr<SnapshotContents> ReadSnapshotFile(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"));
  if (!file) {
    if (errno == ENOENT) return absl::NotFoundError("no snapshot at " + path);
    return Errno("opening " + path);
  }
  struct stat info {};
  if (::fstat(fileno(file.get()), &info) != 0) return Errno("reading " + path);
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size < sizeof(kMagic) + 8) {
    return absl::DataLossError(absl::StrCat("snapshot ", path, " is truncated (", size, " bytes)"));
  }
  std::setvbuf(file.get(), nullptr, _IOFBF, 1 << 20);
  BinaryReader in(file.get(), size - 4);
  SnapshotContents contents;
  char magic[sizeof(kMagic)];
  std::uint32_t version = 0;
  in.Bytes(magic, sizeof(magic), "magic");
  if (in.status().ok() && std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    in.Fail("magic", "is not a hashmatch snapshot's");
  }
  in.Pod(&version, "version");
  if (in.status().ok() && version != kSnapshotVersion) {
    in.Fail("version", absl::StrCat("is ", version, "; this build reads ", kSnapshotVersion));
  }
  std::vector<char> store_id;
  in.Vector(&store_id, 256, "store id");
  contents.store_id.assign(store_id.begin(), store_id.end());
  in.Pod(&contents.applied_seq, "applied sequence");
  in.Pod(&contents.quality_floor, "quality floor");
  for (std::size_t slot = 0; slot < kIndexedSignals.size() && in.status().ok(); ++slot) {
    std::uint32_t signal = 0;
    std::uint64_t segments = 0;
    in.Pod(&signal, "signal");
    if (in.status().ok() && signal != static_cast<std::uint32_t>(kIndexedSignals[slot])) {
      in.Fail("signal",
              absl::StrCat("is ", signal, ", expected ", static_cast<int>(kIndexedSignals[slot])));
    }
    in.Pod(&segments, "segment count");
    if (in.status().ok() && segments > 64) in.Fail("segment count", "is over 64");
    for (std::uint64_t s = 0; s < segments && in.status().ok(); ++s) {
      absl::StatusOr<std::shared_ptr<const Segment>> segment =
          Segment::Load(kIndexedSignals[slot], in);
      if (!segment.ok()) {
        return absl::DataLossError(
            absl::StrCat("snapshot ", path, ": ", std::string(segment.status().message())));
      }
      contents.segments[slot].push_back(*std::move(segment));
    }
    SegmentInput& tail = contents.tails[slot];
    in.Vector(&tail.values, in.remaining(), "tail values");
    in.Vector(&tail.labels, in.remaining(), "tail labels");
    in.Vector(&tail.flags, in.remaining(), "tail flags");
    const auto width = static_cast<std::size_t>(EntryBytes(kIndexedSignals[slot]));
    if (in.status().ok() && (tail.values.size() != tail.labels.size() * width ||
                             tail.flags.size() != tail.labels.size())) {
      in.Fail("tail", "arrays differ in count");
    }
  }
  if (in.status().ok() && in.remaining() != 0) {
    in.Fail("end", absl::StrCat("is followed by ", in.remaining(), " unexpected bytes"));
  }
  if (!in.status().ok()) {
    return absl::DataLossError(
        absl::StrCat("snapshot ", path, ": ", std::string(in.status().message())));
  }
  std::uint32_t stored_crc = 0;
  if (std::fread(&stored_crc, 4, 1, file.get()) != 1 || stored_crc != in.crc()) {
    return absl::DataLossError(absl::StrCat("snapshot ", path, ": checksum mismatch"));
  }
  return contents;
}

}  // namespace hashmatch::index::internal

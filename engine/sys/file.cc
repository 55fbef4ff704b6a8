#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "engine/sys/sys.h"

namespace hashmatch::sys {
namespace {
namespace fs = std::filesystem;

absl::Status Errno(const std::string& what, int error) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(error)));
}

// A file descriptor closed on every path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

template <typename Container>
absl::StatusOr<Container> ReadBounded(const std::string& path, std::size_t max_bytes) {
  const Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return Errno(path + ": cannot read size", errno);
  if (!S_ISREG(info.st_mode)) return absl::InvalidArgumentError(path + ": not a regular file");
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", size, " bytes, over the limit of ", max_bytes, " bytes"));
  }
  Container bytes(static_cast<std::size_t>(size), 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(path + ": read failed", errno);
    if (n == 0) return absl::DataLossError(absl::StrCat(path, ": shrank while being read"));
    done += static_cast<std::size_t>(n);
  }
  return bytes;
}

}  // namespace

absl::StatusOr<std::vector<std::uint8_t>> ReadFileBounded(const std::string& path,
                                                          std::size_t max_bytes) {
  return ReadBounded<std::vector<std::uint8_t>>(path, max_bytes);
}

absl::StatusOr<std::string> ReadFileBoundedString(const std::string& path, std::size_t max_bytes) {
  return ReadBounded<std::string>(path, max_bytes);
}

absl::StatusOr<std::vector<std::string>> ListInputFiles(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status)) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file or folder"));
    }
    if (!fs::is_directory(status)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (it->is_regular_file(ec)) found.push_back(it->path().string());
    }
    if (ec) return absl::UnavailableError(absl::StrCat(path, ": cannot list: ", ec.message()));
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

absl::Status WriteAllAndSync(int fd, std::string_view bytes, const std::string& what) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Errno("writing " + what, errno);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fsync(fd) != 0) return Errno("syncing " + what, errno);
  return absl::OkStatus();
}

absl::Status SyncParentFolder(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  const std::string folder = parent.empty() ? std::string(".") : parent.string();
  const Fd fd(::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Errno(absl::StrCat("opening folder ", folder, " to sync"), errno);
  if (::fsync(fd.get()) != 0) return Errno(absl::StrCat("syncing folder ", folder), errno);
  return absl::OkStatus();
}

absl::Status WriteFileAtomicWith(const std::string& path, unsigned mode,
                                 const std::function<absl::Status(std::FILE* out)>& write) {
  const std::string temp = path + ".tmp";
  const auto written = [&]() -> absl::Status {
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return Errno("creating " + temp, errno);
    std::FILE* out = ::fdopen(fd, "wb");
    if (out == nullptr) {
      const int error = errno;
      ::close(fd);
      return Errno("opening " + temp, error);
    }
    // open() applies the umask; the caller's mode (e.g. 0600 for secrets) is what we promise.
    absl::Status status = ::fchmod(fd, mode) == 0 ? write(out) : Errno("chmod " + temp, errno);
    if (status.ok() && (std::fflush(out) != 0 || ::fsync(fd) != 0)) {
      status = Errno("writing " + temp, errno);
    }
    if (std::fclose(out) != 0 && status.ok()) status = Errno("closing " + temp, errno);
    return status;
  }();
  if (!written.ok()) {
    std::remove(temp.c_str());
    return written;
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(temp.c_str());
    return Errno("renaming " + temp + " to " + path, error);
  }
  return SyncParentFolder(path);
}

absl::Status WriteFileAtomic(const std::string& path, std::string_view bytes, unsigned mode) {
  return WriteFileAtomicWith(path, mode, [&](std::FILE* out) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), out) != bytes.size()) {
      return Errno("writing " + path + ".tmp", errno);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<WriterLock> WriterLock::Acquire(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open lock file ", path, ": ", std::strerror(errno)));
  }
  WriterLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("already open in another process (", path, " is locked)"));
  }
  return lock;
}

WriterLock::~WriterLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace hashmatch::sys

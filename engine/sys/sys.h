// engine/sys: the operating system, once.
//
// Owns: bounded whole-file reads, listing input files, the one atomic file write (temp file,
// fsync, rename, fsync the folder), the single-writer lock file, the clocks, the parallel loops
// (one process-wide worker pool) and the structured logger. Every other module goes through
// these instead of calling the OS itself, so that a durability or escaping rule is fixed once.
// Errors carry the path and errno's text.
//
// Thread-safety: every function is safe to call from any thread; a WriterLock is a value owned
// by one holder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace hashmatch::sys {

// ---- Files ----

// Reads a whole file, refusing (InvalidArgument, naming size and limit) one larger than
// `max_bytes` before reading it. NotFound when it cannot be opened.
[[nodiscard]] absl::StatusOr<std::vector<std::uint8_t>> ReadFileBounded(const std::string& path,
                                                                        std::size_t max_bytes);
// The same into a string.
[[nodiscard]] absl::StatusOr<std::string> ReadFileBoundedString(const std::string& path,
                                                                std::size_t max_bytes);

// Expands files and folders (recursively, sorted, regular files only) into a list of files.
// NotFound naming a path that does not exist; Unavailable for one that cannot be listed.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ListInputFiles(
    const std::vector<std::string>& paths);

// Replaces `path` with `bytes` so that a crash leaves either the old or the new file: writes
// PATH.tmp (created with `mode`), fsyncs it, renames it over `path` and fsyncs the folder.
[[nodiscard]] absl::Status WriteFileAtomic(const std::string& path, std::string_view bytes,
                                           unsigned mode = 0644);

// WriteFileAtomic for output produced as it goes: `write` fills the temp file (buffered stdio);
// when it returns non-OK, or the flush, fsync or rename fails, `path` is left as it was and the
// temp file removed.
[[nodiscard]] absl::Status WriteFileAtomicWith(
    const std::string& path, unsigned mode,
    const std::function<absl::Status(std::FILE* out)>& write);

// Writes all of `bytes` to `fd` (retrying short writes and EINTR) and fsyncs it.
[[nodiscard]] absl::Status WriteAllAndSync(int fd, std::string_view bytes, const std::string& what);

// fsyncs the folder holding `path` (after creating or renaming a file in it).
[[nodiscard]] absl::Status SyncParentFolder(const std::string& path);

// An exclusive flock(2) on a lock file, released when the holder is destroyed, also when the
// process dies. FailedPrecondition when another process holds it.
class WriterLock {
 public:
  [[nodiscard]] static absl::StatusOr<WriterLock> Acquire(const std::string& path);
  WriterLock(WriterLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  WriterLock& operator=(WriterLock&&) = delete;
  ~WriterLock();

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_;
};

// ---- Clocks ----

// Wall-clock milliseconds since the Unix epoch (timestamps that are stored or shown).
std::int64_t NowMs();
// Seconds on a monotonic clock (durations, rates, timeouts).
double MonotonicSeconds();

// ---- Parallel loops ----

// The number of worker threads to use by default: the machine's cores (at least 1).
int DefaultThreads();

// Runs body(worker) for worker in [0, workers) in parallel and returns when all have returned.
// Worker 0 runs on the calling thread; the others on a process-wide pool of threads started
// once (not per call), so it is cheap enough for every RPC. A worker not yet taken by the pool
// when the caller finishes its own share is run by the caller, so nested or concurrent calls
// never wait on each other.
void ParallelFor(int workers, const std::function<void(int worker)>& body);

// ParallelFor on threads started for this call and joined before it returns. For long
// background jobs (index builds) whose threads must inherit the caller's scheduling priority,
// which pool threads would not.
void ParallelForOnNewThreads(int workers, const std::function<void(int worker)>& body);

// Runs work(thread, i) for i in [0, n) on `threads` threads and calls emit(i) in increasing i as
// soon as item i and all before it are done, on the calling thread. `thread` is the worker's
// index in [0, threads), for per-thread state. Threads are started for the call: it is meant for
// long jobs (hashing folders), not for RPCs.
void ParallelOrdered(std::size_t n, int threads, const std::function<void(int, std::size_t)>& work,
                     const std::function<void(std::size_t)>& emit);

// ---- Logging ----

// One structured line per event on stderr: `ts=1700000000.123 level=info msg="..." k="v" ...`.
// Values are quoted and escaped (quotes, backslashes, control bytes), so a value read from a
// request or a file cannot forge a second line or field. Keep secrets and case references out.
void Log(std::string_view level, std::string_view message,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {});

// `value` as a logfmt string: in double quotes, with \" \\ \n \r \t and \xNN for other control
// bytes.
std::string QuoteLogValue(std::string_view value);

}  // namespace hashmatch::sys

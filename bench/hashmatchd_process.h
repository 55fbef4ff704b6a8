// bench/hashmatchd_process: the one way the C++ tests and benchmarks run a real hashmatchd.
//
// The server picks its own port (--listen 127.0.0.1:0 --port-file), so there is no window in
// which another process can take a port chosen for it; a server that exits or hangs before it
// listens is reported with its exit status or the time waited; and it is always stopped
// (SIGTERM, then SIGKILL) when the handle goes, also when set-up fails half way. Not
// thread-safe: one owner.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hashmatch::testing {

class HashmatchdProcess {
 public:
  // Starts `binary --data DATA --listen 127.0.0.1:0 --port-file DATA.port EXTRA...` and waits
  // (up to `timeout_seconds`) until it listens. Its stderr goes to `log_path` when given.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<HashmatchdProcess>> Start(
      const std::string& binary, const std::string& data, const std::vector<std::string>& extra,
      double timeout_seconds = 60, const std::string& log_path = "");
  ~HashmatchdProcess();
  HashmatchdProcess(const HashmatchdProcess&) = delete;
  HashmatchdProcess& operator=(const HashmatchdProcess&) = delete;

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }
  // Whether the process has not exited yet.
  bool Running();
  // SIGTERM, then waits up to `timeout_seconds` (SIGKILL after that). Returns the wait status
  // (WIFEXITED/WEXITSTATUS), or -1 when it was already reaped.
  int Stop(double timeout_seconds = 30);
  // SIGKILL and reap: no drain, no flush.
  void Kill();

 private:
  explicit HashmatchdProcess(pid_t pid) : pid_(pid) {}
  int Reap(double timeout_seconds);
  pid_t pid_;
  std::string address_;
};

}  // namespace hashmatch::testing

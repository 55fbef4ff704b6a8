#include "bench/hashmatchd_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "engine/sys/sys.h"

extern char** environ;

namespace hashmatch::testing {

absl::StatusOr<std::unique_ptr<HashmatchdProcess>> HashmatchdProcess::Start(
    const std::string& binary, const std::string& data, const std::vector<std::string>& extra,
    double timeout_seconds, const std::string& log_path) {
  const std::string port_file = data + ".port";
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {binary,        "--data",      data,     "--listen",
                                   "127.0.0.1:0", "--port-file", port_file};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_path.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0600);
  }
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", binary, ": ", std::strerror(spawned)));
  }
  std::unique_ptr<HashmatchdProcess> process(new HashmatchdProcess(pid));
  const double start = sys::MonotonicSeconds();
  while (true) {
    const absl::StatusOr<std::string> port = sys::ReadFileBoundedString(port_file, 64);
    // Written atomically once listening: the gRPC port is its first line.
    if (port.ok() && port->find('\n') != std::string::npos) {
      process->address_ = "127.0.0.1:" + port->substr(0, port->find('\n'));
      return process;
    }
    if (!process->Running()) {
      return absl::UnavailableError(absl::StrCat(binary, " exited before listening (see its log",
                                                 log_path.empty() ? "" : " ", log_path, ")"));
    }
    if (sys::MonotonicSeconds() - start > timeout_seconds) {
      return absl::DeadlineExceededError(
          absl::StrCat(binary, " did not listen within ", timeout_seconds, " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

HashmatchdProcess::~HashmatchdProcess() {
  if (pid_ > 0) Stop(10);
}

bool HashmatchdProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

int HashmatchdProcess::Reap(double timeout_seconds) {
  const double start = sys::MonotonicSeconds();
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (sys::MonotonicSeconds() - start > timeout_seconds) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  pid_ = -1;
  return status;
}

int HashmatchdProcess::Stop(double timeout_seconds) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  return Reap(timeout_seconds);
}

void HashmatchdProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  Reap(10);
}

}  // namespace hashmatch::testing

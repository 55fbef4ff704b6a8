// bench/bench_server: what the service benchmarks share: a reusable store of synthetic VERIFIED
// descriptors, and the real hashmatchd started on it over loopback.
#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/hashmatchd_process.h"

namespace hashmatch::bench {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b);

// Prints "PROGRAM: message" and exits 1.
[[noreturn]] void Die(const std::string& message);

// The stored hashes are a pure function of (seed, index), so queries need no store read.
std::string StoredHash(std::uint64_t i);

// One stored SHA-256 descriptor per this many PDQ ones (the same 32 bytes, as a digest).
inline constexpr std::int64_t kDigestEvery = 10;

// A store of n random VERIFIED PDQ descriptors StoredHash(0..n-1) (and n/10 SHA-256 ones) in
// DIR/store.db, kept when DIR/bench-n says n already.
void PrepareStore(const std::string& dir, std::int64_t n);

// hashmatchd on DIR (testing::HashmatchdProcess) with `extra` flags; stopped when destroyed.
class ServerProcess {
 public:
  ServerProcess(const std::string& binary, const std::string& data,
                const std::vector<std::string>& extra);
  ~ServerProcess();
  const std::string& address() const { return process_->address(); }
  // Waits until a MatchHashes of StoredHash(0) by `platform_key` matches (the index is loaded).
  void WaitReady(const std::string& platform_key) const;
  std::shared_ptr<grpc::Channel> NewChannel(int index) const;
  // Waits until the server uses (almost) no CPU for half a second: a background index merge or
  // snapshot started by an earlier phase would otherwise be billed to the next one.
  void WaitIdle() const;

 private:
  std::unique_ptr<testing::HashmatchdProcess> process_;
};

}  // namespace hashmatch::bench

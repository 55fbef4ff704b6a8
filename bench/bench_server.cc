#include "bench/bench_server.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "hashmatch/v1/match.grpc.pb.h"
#include "index/store.h"

namespace hashmatch::bench {

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void Die(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", program_invocation_short_name, message.c_str());
  std::exit(1);
}

std::string StoredHash(std::uint64_t i) {
  std::mt19937_64 rng(0x5eed0000ULL + i);
  std::string h(32, '\0');
  for (int w = 0; w < 4; ++w) {
    const std::uint64_t v = rng();
    std::memcpy(&h[static_cast<std::size_t>(w) * 8], &v, 8);
  }
  return h;
}

void PrepareStore(const std::string& dir, std::int64_t n) {
  const std::string marker = dir + "/bench-n";
  {
    std::ifstream in(marker);
    std::int64_t have = -1;
    if (in >> have && have == n) return;
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto store = index::OpenSqliteStore(dir + "/store.db");
  if (!store.ok()) Die(std::string(store.status().message()));
  const auto start = Clock::now();
  constexpr std::int64_t kBatch = 50'000;
  std::vector<index::NewDescriptor> items;
  for (std::int64_t done = 0; done < n; done += kBatch) {
    items.clear();
    for (std::int64_t i = done; i < std::min(n, done + kBatch); ++i) {
      items.push_back({Signal::kPdq, StoredHash(static_cast<std::uint64_t>(i)), 100, "bench",
                       DescriptorStatus::kVerified});
      if (i % kDigestEvery == 0) {
        items.push_back({Signal::kSha256, StoredHash(static_cast<std::uint64_t>(i)), -1, "bench",
                         DescriptorStatus::kVerified});
      }
    }
    const auto added = (*store)->Add({"bench", "", "bench", ""}, items);
    if (!added.ok()) Die(std::string(added.status().message()));
    if ((done + kBatch) % 1'000'000 == 0) {
      std::fprintf(stderr, "store: %lld / %lld PDQ descriptors\n",
                   static_cast<long long>(done + kBatch), static_cast<long long>(n));
    }
  }
  std::fprintf(stderr, "store: %lld PDQ descriptors in %.1f s\n", static_cast<long long>(n),
               Seconds(start, Clock::now()));
  std::ofstream(marker) << n << "\n";
}

ServerProcess::ServerProcess(const std::string& binary, const std::string& data,
                             const std::vector<std::string>& extra) {
  absl::StatusOr<std::unique_ptr<testing::HashmatchdProcess>> started =
      testing::HashmatchdProcess::Start(binary, data, extra);
  if (!started.ok()) Die(std::string(started.status().message()));
  process_ = *std::move(started);
}

ServerProcess::~ServerProcess() = default;

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel(int index) const {
  grpc::ChannelArguments args;
  args.SetInt("hashmatch.bench.channel", index);  // distinct args: a connection each
  return grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
}

void ServerProcess::WaitIdle() const {
  const auto cpu_ticks = [&] {
    std::ifstream in("/proc/" + std::to_string(process_->pid()) + "/stat");
    std::string field;
    long long utime = 0, stime = 0;
    // Fields 14 and 15 (utime, stime); the command name (field 2) has no spaces here.
    for (int i = 1; i <= 15 && in >> field; ++i) {
      if (i == 14) utime = std::stoll(field);
      if (i == 15) stime = std::stoll(field);
    }
    return utime + stime;
  };
  const auto start = Clock::now();
  long long before = cpu_ticks();
  while (Seconds(start, Clock::now()) < 300) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const long long now = cpu_ticks();
    if (now - before <= 2) return;  // at most 20 ms of CPU in 500 ms
    before = now;
  }
}

void ServerProcess::WaitReady(const std::string& platform_key) const {
  const auto start = Clock::now();
  auto stub = v1::MatchService::NewStub(NewChannel(-1));
  for (;;) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + platform_key);
    v1::MatchHashesRequest request;
    request.add_hashes()->set_signal(v1::SIGNAL_PDQ);
    request.mutable_hashes(0)->set_raw(StoredHash(0));
    v1::MatchHashesResponse response;
    const grpc::Status status = stub->MatchHashes(&context, request, &response);
    if (status.ok() && response.results(0).matched()) return;
    if (Seconds(start, Clock::now()) > 600) Die("the server did not become ready in 10 minutes");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace hashmatch::bench

#include "bench/bench_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "hashmatch/v1/match.grpc.pb.h"
#include "index/store.h"

extern char** environ;

namespace hashmatch::bench {
namespace {

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  close(fd);
  return ntohs(address.sin_port);
}

bool PortAccepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool accepted = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  close(fd);
  return accepted;
}

}  // namespace

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
  const int port = FreePort();
  address_ = "127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = {binary, "--data", data, "--listen", address_};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
    Die("cannot start " + binary);
  }
  // Channels made before the port accepts start in connection backoff (seconds): wait for it.
  for (int attempt = 0; !PortAccepts(port); ++attempt) {
    if (attempt == 6000) Die("hashmatchd does not accept connections on " + address_);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

ServerProcess::~ServerProcess() {
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
}

std::shared_ptr<grpc::Channel> ServerProcess::NewChannel(int index) const {
  grpc::ChannelArguments args;
  args.SetInt("hashmatch.bench.channel", index);  // distinct args: a connection each
  return grpc::CreateCustomChannel(address_, grpc::InsecureChannelCredentials(), args);
}

void ServerProcess::WaitIdle() const {
  const auto cpu_ticks = [&] {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
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

// bench_ingest: hashmatch-ingest's two rates, each next to a baseline from the same run.
//   offline  `hashmatch-ingest hash` of --copies copies of the public images into a bundle, on 1
//            and on all cores, next to `hashmatch hash` of the same files (hashing alone)
//   push     `hashmatch-ingest push` of a signed bundle of --m new PDQ descriptors (police key)
//            into hashmatchd on a store of --n (reused from bench_service's fill), next to
//            AddDescriptors streaming another --m in batches of 10 000 (the API path without
//            bundles) to the same server
// Prints images/s and descriptors/s (--json PATH for the figures).
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bench/bench_json.h"
#include "bench/bench_server.h"
#include "engine/bundle/bundle.h"
#include "engine/server/internal/bundles.h"
#include "engine/server/internal/keys.h"
#include "hashmatch/v1/ingest.grpc.pb.h"

extern char** environ;

namespace {

namespace v1 = hashmatch::v1;
using hashmatch::bench::Clock;
using hashmatch::bench::Die;
using hashmatch::bench::Seconds;

// Runs a program to completion with stdout/stderr to /dev/null; returns its wall time.
double TimeProgram(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  const auto start = Clock::now();
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    Die("cannot start " + args[0]);
  }
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  const double seconds = Seconds(start, Clock::now());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    Die(args[0] + " " + args[1] + " failed (exit " + std::to_string(WEXITSTATUS(status)) + ")");
  }
  return seconds;
}

// Fresh PDQ values: random, from a seed unique to this run (the store is reused across runs).
std::string FreshHash(std::mt19937_64& rng) {
  std::string h(32, '\0');
  for (char& c : h) c = static_cast<char>(rng());
  return h;
}

struct Figure {
  std::string name;
  double value;
  const char* unit;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "bench_ingest: offline hashing into bundles and pushing signed bundles into hashmatchd, "
      "each next to a baseline from the same run"};
  std::int64_t n = 1'000'000, m = 200'000;
  int copies = 10;
  std::string data, json_path, bin = HM_BIN_DIR;
  std::string images = std::string(HM_SHARED_DIR) + "/testdata/pdq/images";
  std::vector<std::string> only = {"offline", "push"};
  app.add_option("--n", n, "Descriptors already in the store (PDQ, plus N/10 SHA-256)")
      ->capture_default_str();
  app.add_option("--m", m, "Descriptors pushed (and, for the baseline, added) per run")
      ->capture_default_str();
  app.add_option("--copies", copies, "Copies of the image folder hashed offline")
      ->capture_default_str();
  app.add_option("--images", images, "Images for the offline phase")->capture_default_str();
  app.add_option("--data", data, "Server data folder (reused; grows by 2*M per run)")
      ->default_str("/tmp/hm_bench_ingest_N");
  app.add_option("--bin", bin, "Folder of hashmatchd, hashmatch, hashmatch-ingest")
      ->capture_default_str();
  app.add_option("--phases", only, "offline, push")->delimiter(',')->capture_default_str();
  app.add_option("--json", json_path, "Also write the figures as JSON");
  CLI11_PARSE(app, argc, argv);
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (data.empty()) data = "/tmp/hm_bench_ingest_" + std::to_string(n);
  const auto wanted = [&](const char* p) {
    return std::find(only.begin(), only.end(), p) != only.end();
  };
  const std::string work =
      std::filesystem::temp_directory_path() / ("hm_bench_ingest_work." + std::to_string(getpid()));
  std::filesystem::create_directories(work);
  std::vector<Figure> figures;
  const auto report = [&](const std::string& name, double value, const char* unit) {
    std::printf("%-58s %12.0f %s\n", name.c_str(), value, unit);
    std::fflush(stdout);
    figures.push_back({name, value, unit});
  };

  if (wanted("offline")) {
    const std::string folder = work + "/images";
    std::int64_t files = 0;
    for (int c = 0; c < copies; ++c) {
      const std::string copy = folder + "/" + std::to_string(c);
      std::filesystem::create_directories(copy);
      for (const auto& entry : std::filesystem::directory_iterator(images)) {
        if (!entry.is_regular_file()) continue;
        std::filesystem::copy_file(entry.path(), copy + "/" + entry.path().filename().string());
        ++files;
      }
    }
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    for (const int threads : {1, cores}) {
      const std::string t = std::to_string(threads);
      const double baseline = TimeProgram({bin + "/hashmatch", "hash", "--threads", t, folder});
      const std::string bundle = work + "/offline-" + t + ".bundle";
      const double ours = TimeProgram({bin + "/hashmatch-ingest", "hash", folder, "--out", bundle,
                                       "--agency", "bench", "--category", "A", "--threads", t});
      report("offline: hashmatch-ingest hash, " + t + " thread(s)", files / ours, "images/s");
      report("  baseline: hashmatch hash (no bundle), " + t + " thread(s)", files / baseline,
             "images/s");
    }
  }

  if (wanted("push")) {
    hashmatch::bench::PrepareStore(data, n);
    std::string platform_key, police_key;
    {
      auto keys = hashmatch::server::OpenKeyTable(data + "/keys.db");
      if (!keys.ok()) Die(std::string(keys.status().message()));
      platform_key = (*keys)->Create(hashmatch::server::Role::kPlatform, "bench", 1e9)->secret;
      police_key = (*keys)->Create(hashmatch::server::Role::kPolice, "bench", 1e9)->secret;
    }
    // A signed bundle of m fresh PDQ descriptors from a newly registered agency key.
    std::mt19937_64 rng(std::random_device{}());
    std::vector<v1::BundleRecord> records(static_cast<std::size_t>(m));
    for (v1::BundleRecord& r : records) {
      r.mutable_hash()->set_signal(v1::SIGNAL_PDQ);
      r.mutable_hash()->set_raw(FreshHash(rng));
      r.mutable_hash()->set_quality(100);
      r.set_category("bench");
    }
    const std::string bundle = work + "/push.bundle", key = work + "/agency";
    v1::BundleHeader header;
    header.set_agency("bench");
    if (!hashmatch::bundle::WriteBundle(bundle, header, records).ok() ||
        !hashmatch::bundle::WriteKeyPair(key).ok() ||
        !hashmatch::bundle::SignBundleFile(bundle, key + ".key").ok()) {
      Die("cannot write the signed bundle in " + work);
    }
    {
      auto inbox = hashmatch::server::BundleInbox::Open(data, std::int64_t{1} << 32);
      if (!inbox.ok()) Die(std::string(inbox.status().message()));
      if (!(*inbox)->AddAgencyKey("bench", *hashmatch::bundle::ReadPublicKey(key + ".pub")).ok()) {
        Die("cannot register the agency key");
      }
    }
    const std::string keys_json = work + "/keys.json";
    if (!hashmatch::sys::WriteFileAtomic(keys_json, nlohmann::json({{"police", police_key}}).dump(),
                                         0600)
             .ok()) {
      Die("cannot write " + keys_json);
    }
    hashmatch::bench::ServerProcess server(bin + "/hashmatchd", data, {});
    server.WaitReady(platform_key);
    std::printf("hashmatchd ready on %s; store: %lld PDQ descriptors and more from earlier runs\n",
                server.address().c_str(), static_cast<long long>(n));

    const double push =
        TimeProgram({bin + "/hashmatch-ingest", "push", bundle, "--server", server.address(),
                     "--key-file", keys_json, "--role", "police"});
    report("push: hashmatch-ingest push (upload + verify + add)", m / push, "descriptors/s");

    // Baseline: AddDescriptors, batches of 10 000 on one stream, each answered after its commit.
    server.WaitIdle();
    auto stub = v1::IngestService::NewStub(server.NewChannel(0));
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + police_key);
    const auto start = Clock::now();
    auto stream = stub->AddDescriptors(&context);
    constexpr std::int64_t kBatch = 10'000;
    std::int64_t acked = 0;
    for (std::int64_t done = 0; done < m; done += kBatch) {
      v1::AddDescriptorsRequest request;
      request.mutable_contribution()->set_agency("bench");
      for (std::int64_t i = done; i < std::min(m, done + kBatch); ++i) {
        v1::NewDescriptor* item = request.add_items();
        item->mutable_hash()->set_signal(v1::SIGNAL_PDQ);
        item->mutable_hash()->set_raw(FreshHash(rng));
        item->mutable_hash()->set_quality(100);
        item->set_category("bench");
      }
      v1::AddDescriptorsResponse response;
      if (!stream->Write(request) || !stream->Read(&response)) break;
      acked += response.ids_size();
    }
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    if (!status.ok() || acked != m) Die("AddDescriptors failed: " + status.error_message());
    report("  baseline: AddDescriptors stream, batches of 10 000", m / Seconds(start, Clock::now()),
           "descriptors/s");
  }
  std::filesystem::remove_all(work);

  nlohmann::json document = {{"n", n}, {"m", m}, {"figures", nlohmann::json::array()}};
  for (const auto& f : figures) {
    document["figures"].push_back({{"name", f.name}, {"value", f.value}, {"unit", f.unit}});
  }
  if (!hashmatch::bench::WriteJson(json_path, document)) return 2;
  return 0;
}

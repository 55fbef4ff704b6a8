// hashmatchd: the matching service. See README.md "hashmatchd" and proto/hashmatch/v1.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "engine/server/internal/audit.h"
#include "engine/server/internal/demo.h"
#include "engine/server/internal/keys.h"
#include "engine/server/internal/metrics_http.h"
#include "engine/server/service.h"
#include "engine/sys/sys.h"
#include "index/matcher.h"
#include "index/store.h"

namespace hs = hashmatch::server;
namespace hi = hashmatch::index;

namespace {

void Log(const char* level, const std::string& message) { hashmatch::sys::Log(level, message); }

[[noreturn]] void Die(const std::string& message) {
  Log("error", message);
  std::exit(1);
}

bool IsLoopback(const std::string& address) {
  return address.rfind("127.", 0) == 0 || address.rfind("[::1]", 0) == 0 ||
         address.rfind("localhost:", 0) == 0;
}

std::string ReadText(const std::string& path) {
  absl::StatusOr<std::string> text = hashmatch::sys::ReadFileBoundedString(path, 1 << 20);
  if (!text.ok()) Die(std::string(text.status().message()));
  return *std::move(text);
}

// Media must never reach disk: no core dumps (they would hold request bytes).
void DisableCoreDumps() {
  const rlimit none{0, 0};
  setrlimit(RLIMIT_CORE, &none);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

// SIGTERM/SIGINT go to a handler (not sigwait: libraries such as OpenBLAS start threads before
// main, with the signals unblocked) that wakes WaitForStopSignal through a pipe.
int g_stop_pipe[2] = {-1, -1};

void OnStopSignal(int signal_number) {
  const char byte = static_cast<char>(signal_number);
  [[maybe_unused]] const ssize_t written = write(g_stop_pipe[1], &byte, 1);
}

void InstallStopSignals() {
  if (pipe(g_stop_pipe) != 0) Die("pipe() failed");
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
}

int WaitForStopSignal() {
  char byte = 0;
  while (read(g_stop_pipe[0], &byte, 1) != 1) {
  }
  return byte;
}

// --demo: descriptors of the public test media and one key per role (engine/server/demo.cc).
void LoadDemo(const std::vector<std::string>& folders, const std::string& data, hi::Store* store,
              hs::KeyTable* keys) {
  const absl::StatusOr<std::size_t> added = hs::LoadDemoDescriptors(folders, store);
  if (!added.ok()) Die("--demo: " + std::string(added.status().message()));
  Log("info", "demo descriptors: " + std::to_string(*added));
  const std::string path = data + "/demo-keys.json";
  const absl::StatusOr<bool> reused = hs::EnsureDemoKeys(path, keys);
  if (!reused.ok()) Die("demo keys: " + std::string(reused.status().message()));
  Log("info", "demo keys: " + path + (*reused ? " (reused)" : " (one per role, mode 0600)"));
}

}  // namespace

int main(int argc, char** argv) {
  umask(077);  // the store, keys and audit log are for this service account only
  CLI::App app{
      "hashmatchd: matches images and hashes against known descriptors (gRPC, "
      "proto/hashmatch/v1).\nStores descriptors only, never media."};
  std::string data = "hashmatch-data", listen = "127.0.0.1:50051";
  std::string tls_cert, tls_key, tls_client_ca, demo_images, metrics_listen, port_file;
  std::optional<std::string> demo_videos;
  int max_message_bytes = 0;
  std::int64_t max_bundle_bytes = std::int64_t{1} << 30;
  bool insecure = false, demo = false;
  double drain_seconds = 10, hold_loading_seconds = 0;
  hs::ServiceLimits limits;
  app.add_option("--data", data,
                 "Folder for the store, index snapshot, keys, audit log, agency keys and bundle "
                 "uploads")
      ->capture_default_str();
  app.add_option("--listen", listen, "Address to serve on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--port-file", port_file,
                 "Once listening, write the port bound (line 1) and the metrics port (line 2, "
                 "with --metrics-listen) to this file: with port 0 in --listen or "
                 "--metrics-listen, for tests and scripts");
  app.add_option("--tls-cert", tls_cert, "PEM certificate chain (enables TLS)");
  app.add_option("--tls-key", tls_key, "PEM private key for --tls-cert");
  app.add_option("--tls-client-ca", tls_client_ca, "PEM CA bundle: require client certificates");
  app.add_flag("--insecure", insecure, "Allow a non-loopback listener without TLS");
  app.add_flag("--demo", demo,
               "Load the public test images and videos as VERIFIED descriptors (videos as VPDQ) "
               "and write one API key per role to DATA/demo-keys.json");
  app.add_option("--demo-images", demo_images, "Images for --demo")
      ->default_str("../shared/testdata/pdq/images beside the source tree");
  app.add_option("--demo-videos", demo_videos, "Videos for --demo (stored as VPDQ); '' for none")
      ->default_str("../shared/testdata/pdq/videos beside the source tree");
  app.add_option("--max-batch", limits.max_batch, "Most hashes per MatchHashes / per ingest batch")
      ->capture_default_str();
  app.add_option("--max-image-bytes", limits.max_image_bytes, "Largest image for MatchMedia")
      ->capture_default_str();
  app.add_option("--max-image-pixels", limits.max_image_pixels,
                 "Most pixels (width x height) of an image for MatchMedia")
      ->capture_default_str();
  app.add_option("--max-video-bytes", limits.max_video_bytes,
                 "Largest video file for MatchVideo (held in memory while it is decoded)")
      ->capture_default_str();
  app.add_option("--max-video-frames", limits.max_video_frames,
                 "Most frame hashes in a hash-only MatchVideo")
      ->capture_default_str();
  app.add_option("--max-video-seconds", limits.max_video_seconds,
                 "MatchVideo's server-side deadline, counted from the end of the upload")
      ->capture_default_str();
  app.add_option("--max-concurrent-videos", limits.max_concurrent_videos,
                 "Videos decoded at once; more MatchVideo calls get RESOURCE_EXHAUSTED")
      ->capture_default_str();
  app.add_option("--max-message-bytes", max_message_bytes,
                 "Largest request message (default: --max-image-bytes + 1 MiB)");
  app.add_option("--max-call-seconds", limits.max_call_seconds,
                 "Server-side deadline of a call (of each batch of an ingest stream); the "
                 "client's own deadline applies when earlier")
      ->capture_default_str();
  app.add_option("--max-bundle-bytes", max_bundle_bytes,
                 "Largest signed bundle accepted by PushBundle (staged in DATA/uploads/)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--rate", limits.default_rate_per_second,
                 "Calls per second per key (token bucket, bursts of 2 s) unless the key sets one")
      ->capture_default_str();
  app.add_flag("--audit-commit-lookups", limits.audit_commit_lookups,
               "Answer match calls only after their audit record is committed, as every other "
               "call is (default: once queued; committed within 5 ms, so a crash can lose the "
               "newest few milliseconds of lookup records; halves single-hash calls/s)");
  app.add_option("--drain-seconds", drain_seconds,
                 "On SIGTERM/SIGINT, how long calls in flight may take to finish (new calls get "
                 "UNAVAILABLE meanwhile) before they are cancelled")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--test-hold-loading-seconds", hold_loading_seconds,
                 "For tests of clients: stay 'loading the index' (health NOT_SERVING, lookups "
                 "UNAVAILABLE) this many seconds longer")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--metrics-listen", metrics_listen,
                 "HOST:PORT for Prometheus metrics over HTTP (GET /metrics, /livez, /readyz); "
                 "off by default");
  CLI11_PARSE(app, argc, argv);
  // gRPC locks absl::Mutexes on every call, and Debian's Abseil checks each lock for deadlock
  // cycles: 27.8 k -> 42.4 k health checks/s without it (bench_service baseline, 2 cores).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  DisableCoreDumps();
  InstallStopSignals();
  signal(SIGPIPE, SIG_IGN);

  if (tls_cert.empty() != tls_key.empty()) Die("--tls-cert and --tls-key go together");
  if (tls_cert.empty() && !IsLoopback(listen) && !insecure) {
    Die("refusing to serve " + listen + " without TLS: give --tls-cert/--tls-key, or --insecure");
  }
  if (!metrics_listen.empty() && !IsLoopback(metrics_listen) && !insecure) {
    Die("refusing plain-HTTP metrics on " + metrics_listen +
        ": use a loopback address, or --insecure");
  }
  if (limits.max_call_seconds <= 0) Die("--max-call-seconds must be positive");
  if (limits.max_video_seconds <= 0) Die("--max-video-seconds must be positive");
  if (max_message_bytes <= 0) {
    max_message_bytes = static_cast<int>(
        std::min<std::size_t>(limits.max_image_bytes + (1 << 20), std::size_t{1} << 30));
  }
  std::filesystem::create_directories(data);
  auto store = hi::OpenSqliteStore(data + "/store.db");
  if (!store.ok()) Die(std::string(store.status().message()));
  auto keys = hs::OpenKeyTable(data + "/keys.db");
  if (!keys.ok()) Die(std::string(keys.status().message()));
  auto audit = hs::OpenAuditLog(data + "/audit.db");
  if (!audit.ok()) Die(std::string(audit.status().message()));
  auto bundles = hs::BundleInbox::Open(data, max_bundle_bytes);
  if (!bundles.ok()) Die(std::string(bundles.status().message()));
  if (demo) {
    if (demo_images.empty())
      demo_images = std::string(HM_SOURCE_DIR) + "/../shared/testdata/pdq/images";
    if (!demo_videos) demo_videos = std::string(HM_SOURCE_DIR) + "/../shared/testdata/pdq/videos";
    std::vector<std::string> folders = {demo_images};
    if (!demo_videos->empty()) folders.push_back(*demo_videos);
    LoadDemo(folders, data, store->get(), keys->get());
  }

  hs::Services services(store->get(), keys->get(), audit->get(), bundles->get(), limits);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!tls_cert.empty()) {
    grpc::SslServerCredentialsOptions ssl(
        tls_client_ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                              : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    ssl.pem_key_cert_pairs.push_back({ReadText(tls_key), ReadText(tls_cert)});
    if (!tls_client_ca.empty()) ssl.pem_root_certs = ReadText(tls_client_ca);
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.RegisterService(services.match_service());
  builder.RegisterService(services.ingest_service());
  builder.RegisterService(services.admin_service());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) Die("cannot listen on " + listen);

  // Live now; ready (health "hashmatch.v1.MatchService" SERVING) once the index is loaded.
  auto* health = server->GetHealthCheckService();
  std::unique_ptr<hs::MetricsEndpoint> metrics;
  if (!metrics_listen.empty()) {
    auto started = hs::MetricsEndpoint::Start(metrics_listen, &services);
    if (!started.ok()) Die(std::string(started.status().message()));
    metrics = *std::move(started);
    Log("info", "metrics on http://" + metrics_listen.substr(0, metrics_listen.rfind(':') + 1) +
                    std::to_string(metrics->port()) + "/metrics");
  }
  if (!port_file.empty()) {
    // Line 1: the gRPC port; line 2, with --metrics-listen: the metrics port.
    std::string ports = std::to_string(port) + "\n";
    if (metrics) ports += std::to_string(metrics->port()) + "\n";
    const absl::Status written = hashmatch::sys::WriteFileAtomic(port_file, ports, 0644);
    if (!written.ok()) Die("--port-file: " + std::string(written.message()));
  }
  health->SetServingStatus("hashmatch.v1.MatchService", false);
  Log("info", "listening on " + listen.substr(0, listen.rfind(':') + 1) + std::to_string(port) +
                  (tls_cert.empty() ? " (plaintext)" : " (TLS)") + "; loading the index");

  hi::MatcherOptions options;
  options.snapshot_path = data + "/index.snapshot";
  options.log = [](std::string_view line) { Log("info", std::string(line)); };
  auto matcher = hi::Matcher::Open(store->get(), options);
  if (!matcher.ok()) Die(std::string(matcher.status().message()));
  if (hold_loading_seconds > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(hold_loading_seconds));
  }
  services.AttachMatcher(matcher->get());
  health->SetServingStatus("hashmatch.v1.MatchService", true);
  Log("info", "ready");
  // The store finds duplicates through an in-memory index of every value, built on first use
  // (~3 s at 10 M): build it now, off the request path, instead of in the first ingest call.
  std::thread warm_store([&store] {
    const auto start = std::chrono::steady_clock::now();
    const auto found = (*store)->Find(hashmatch::Signal::kSha256, std::string(32, '\0'));
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (found.ok()) Log("info", "store value index ready in " + std::to_string(seconds) + " s");
  });

  // SIGTERM/SIGINT: not ready; new calls UNAVAILABLE; the calls in flight finish (--drain-seconds
  // at most); then the listener closes (grpc's own shutdown would wait seconds more for idle
  // client connections to go away) and the audit queue and snapshot are written.
  std::thread waiter([&] {
    const int received = WaitForStopSignal();
    Log("info",
        std::string("received ") + (received == SIGTERM ? "SIGTERM" : "SIGINT") + "; draining");
    health->SetServingStatus("hashmatch.v1.MatchService", false);
    const int unfinished = services.Drain(drain_seconds);
    if (unfinished > 0) {
      Log("warning", std::to_string(unfinished) + " calls still running after --drain-seconds " +
                         "are cancelled");
    }
    // A moment for the last answers to leave before connections are closed.
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
  });
  server->Wait();
  waiter.join();
  warm_store.join();
  (*matcher)->WriteSnapshot().IgnoreError();
  Log("info", "stopped");
  return 0;
}

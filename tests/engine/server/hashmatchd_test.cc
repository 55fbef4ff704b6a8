// End to end with the C++ stubs: the real hashmatchd (--demo) on loopback, a real gRPC client.
// (The Python test, hashmatchd_e2e_test.py, covers the full role matrix, ingest and the audit.)
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "engine/sqlite/sqlite.h"
#include "hashmatch/v1/ingest.grpc.pb.h"
#include "hashmatch/v1/match.grpc.pb.h"
#include "tests/testing/temp_dir.h"

extern char** environ;

namespace hashmatch::v1 {
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

// The demo key of `role` from DATA/demo-keys.json.
std::string DemoKey(const std::string& data, const std::string& role) {
  std::ifstream in(data + "/demo-keys.json");
  std::stringstream text;
  text << in.rdbuf();
  const std::string tag = "\"" + role + "\": \"";
  const std::string s = text.str();
  const auto at = s.find(tag);
  REQUIRE(at != std::string::npos);
  return s.substr(at + tag.size(), 67);
}

// The reference PDQ of one public test image (expected.tsv).
std::string ReferencePdq(const std::string& image) {
  std::ifstream in(std::string(HM_TESTDATA_DIR) + "/pdq/expected.tsv");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(image + "\t", 0) == 0) return line.substr(image.size() + 1, 64);
  }
  FAIL("no reference hash for " << image);
  return "";
}

class Server {
 public:
  explicit Server(const std::string& data) : port_(FreePort()) {
    const std::string binary = std::string(HM_BIN_DIR) + "/hashmatchd";
    const std::string listen = "127.0.0.1:" + std::to_string(port_);
    const std::string images = std::string(HM_TESTDATA_DIR) + "/pdq/images";
    const char* argv[] = {binary.c_str(),  "--data",       data.c_str(),
                          "--listen",      listen.c_str(), "--demo",
                          "--demo-images", images.c_str(), nullptr};
    REQUIRE(posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, const_cast<char**>(argv),
                        environ) == 0);
    channel_ = grpc::CreateChannel(listen, grpc::InsecureChannelCredentials());
  }
  ~Server() {
    if (pid_ > 0) Stop();
  }
  int Stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  int port_;
  pid_t pid_ = -1;
  std::shared_ptr<grpc::Channel> channel_;
};

std::unique_ptr<grpc::ClientContext> Context(const std::string& key) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!key.empty()) context->AddMetadata("authorization", "Bearer " + key);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return context;
}

// Audit records of `method` with gRPC status `code`, read from DATA/audit.db.
std::int64_t AuditedCalls(const std::string& data, const std::string& method,
                          const std::string& code) {
  auto db = hashmatch::sqlite::OpenSqlite(data + "/audit.db");
  REQUIRE(db.ok());
  auto count = hashmatch::sqlite::Statement::Prepare(
      db->get(), "SELECT count(*) FROM audit WHERE record LIKE ?");
  REQUIRE(count.ok());
  count->BindText(1, "%\t" + method + "\t" + code + "\t%");
  REQUIRE(*count->Step());
  return count->Int(0);
}

TEST_CASE("hashmatchd answers the C++ client by role and stops cleanly on SIGTERM",
          "[server][e2e]") {
  hashmatch::testing::TempDir dir;
  const std::string data = dir.File("data");
  Server server(data);
  auto match = MatchService::NewStub(server.channel());
  auto ingest = IngestService::NewStub(server.channel());

  MatchHashesRequest request;
  HashValue* known = request.add_hashes();
  known->set_signal(SIGNAL_PDQ);
  known->set_hex(ReferencePdq("images/p05-mate-garden.jpg"));
  // Ready once the index is loaded (UNAVAILABLE before); the demo key file exists by then.
  MatchHashesResponse response;
  grpc::Status status;
  for (int attempt = 0; attempt < 300; ++attempt) {
    std::ifstream keys(data + "/demo-keys.json");
    if (keys) {
      response.Clear();
      status = match->MatchHashes(Context(DemoKey(data, "platform")).get(), request, &response);
      if (status.ok()) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(status.ok());
  REQUIRE(response.results_size() == 1);
  CHECK(response.results(0).matched());
  CHECK(response.results(0).matches(0).descriptor_id() == 0);  // platforms see no ids
  CHECK(response.results(0).matches(0).category() == "demo");

  response.Clear();
  REQUIRE(match->MatchHashes(Context(DemoKey(data, "police")).get(), request, &response).ok());
  CHECK(response.results(0).matches(0).descriptor_id() > 0);
  CHECK(response.results(0).matches(0).provenance(0).agency() == "demo");

  CHECK(match->MatchHashes(Context("").get(), request, &response).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  SetStatusResponse set;
  CHECK(ingest->SetStatus(Context(DemoKey(data, "ict")).get(), SetStatusRequest(), &set)
            .error_code() == grpc::StatusCode::PERMISSION_DENIED);

  const int exit_status = server.Stop();
  CHECK(WIFEXITED(exit_status));
  CHECK(WEXITSTATUS(exit_status) == 0);
  // Lookups are answered before their audit record is committed: the drain on SIGTERM commits
  // every one of them.
  const std::string method = "/hashmatch.v1.MatchService/MatchHashes";
  CHECK(AuditedCalls(data, method, "OK") == 2);
  CHECK(AuditedCalls(data, method, "UNAUTHENTICATED") == 1);
  CHECK(AuditedCalls(data, "/hashmatch.v1.IngestService/SetStatus", "PERMISSION_DENIED") == 1);
}

}  // namespace
}  // namespace hashmatch::v1

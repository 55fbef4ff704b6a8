// End to end with the C++ stubs: the real hashmatchd (--demo) on loopback, a real gRPC client.
// (The Python test, hashmatchd_e2e_test.py, covers the full role matrix, ingest and the audit.)
#include <grpcpp/grpcpp.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "bench/hashmatchd_process.h"
#include "engine/sqlite/sqlite.h"
#include "hashmatch/v1/ingest.grpc.pb.h"
#include "hashmatch/v1/match.grpc.pb.h"
#include "tests/testing/temp_dir.h"

namespace hashmatch::v1 {
namespace {

// The demo key of `role` from DATA/demo-keys.json.
std::string DemoKey(const std::string& data, const std::string& role) {
  std::ifstream in(data + "/demo-keys.json");
  const nlohmann::json keys = nlohmann::json::parse(in);
  REQUIRE(keys.contains(role));
  return keys[role].get<std::string>();
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

// hashmatchd --demo (the public images) through the shared process helper.
class Server {
 public:
  explicit Server(const std::string& data) {
    const std::string images = std::string(HM_TESTDATA_DIR) + "/pdq/images";
    auto started =
        testing::HashmatchdProcess::Start(std::string(HM_BIN_DIR) + "/hashmatchd", data,
                                          {"--demo", "--demo-images", images}, 60, data + ".log");
    REQUIRE(started.ok());
    process_ = *std::move(started);
    channel_ = grpc::CreateChannel(process_->address(), grpc::InsecureChannelCredentials());
  }
  int Stop() { return process_->Stop(); }
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }

 private:
  std::unique_ptr<testing::HashmatchdProcess> process_;
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

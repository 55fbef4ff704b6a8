// tools/cli: what the two client programs (hashmatch, hashmatch-ingest) share.
//
// Owns the connection flags (--server, --key-file, --role, --tls-ca), reading the API key (a
// file holding the key, or hashmatchd's demo-keys.json: a JSON object role -> key), the channel,
// one unary-call helper (key, deadline, error text), the exit statuses every command uses, the
// role names, and the hashing flags shared by `hashmatch hash|match` and `hashmatch-ingest hash`.
// Functions are thread-safe; a Connection may be used from several threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <array>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/describe/describe.h"

namespace hashmatch::cli {

// ---- Exit statuses ----
inline constexpr int kExitOk = 0;     // done (for match: something matched)
inline constexpr int kExitNo = 1;     // done with a negative answer: no match, a bundle rejected,
                                      // some files failed while the rest were done
inline constexpr int kExitError = 2;  // usage, key file, connection or server error

// Whether the server refused the request for what it is (INVALID_ARGUMENT, PERMISSION_DENIED):
// sending it again cannot help. Commands whose request is a thing the user
// submitted (push: a bundle) answer such a refusal with kExitNo, other failures with kExitError.
bool IsRefusal(const grpc::Status& status);

// The roles of DESIGN.md, as key files and --role name them.
inline constexpr std::array<std::string_view, 4> kRoleNames = {"platform", "ict", "police",
                                                               "admin"};

// ---- Connection ----

struct ConnectFlags {
  std::string server = "127.0.0.1:50051";
  std::string key_file = "hashmatch-data/demo-keys.json";
  std::string role;  // which key of a demo-keys.json; the command's default when empty
  std::string tls_ca;
};

void AddConnectFlags(CLI::App* cmd, ConnectFlags* flags, const std::string& default_role);

// The key: the first word of the file, or the string under "role" in a JSON object.
[[nodiscard]] absl::StatusOr<std::string> ReadApiKey(const ConnectFlags& flags);

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectFlags& flags);

// A context carrying "authorization: Bearer <key>" and a deadline.
std::unique_ptr<grpc::ClientContext> MakeContext(const std::string& key, int deadline_seconds);

// "CODE: message" for stderr.
std::string DescribeRpcError(const grpc::Status& status);

// A command's connection: its key and channel.
class Connection {
 public:
  // Reads the key and makes the channel (no call is made yet).
  [[nodiscard]] static absl::StatusOr<Connection> Open(const ConnectFlags& flags);

  const std::string& key() const { return key_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }

  // One unary call with the key and a deadline, e.g.
  //   conn.Call(*stub, &v1::AdminService::Stub::GetStats, request, &response, 60).
  template <typename Stub, typename Request, typename Response>
  grpc::Status Call(Stub& stub,
                    grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response, int deadline_seconds) const {
    const std::unique_ptr<grpc::ClientContext> context = MakeContext(key_, deadline_seconds);
    return (stub.*method)(context.get(), request, response);
  }

 private:
  Connection(std::string key, std::shared_ptr<grpc::Channel> channel)
      : key_(std::move(key)), channel_(std::move(channel)) {}
  std::string key_;
  std::shared_ptr<grpc::Channel> channel_;
};

// Prints "<command>: <message>" (or the status's message) to stderr and returns kExitError.
int Fail(std::string_view command, std::string_view message);
int Fail(std::string_view command, const absl::Status& status);
// Prints "<command>: CODE: message" to stderr and returns kExitError.
int FailRpc(std::string_view command, const grpc::Status& status);

// ---- Programs ----

// Parses the command line into `app` (whose subcommands' callbacks set *exit_code) and returns
// the exit status: the command's, kExitOk for --help/--version, kExitError for a usage error.
int RunProgram(CLI::App& app, int argc, char** argv, const int* exit_code);

// ---- Hashing flags ----

// --threads, --max-image-bytes, --max-pixels, --max-side, --max-video-bytes and
// --seconds-per-hash, into `options` and `threads`.
void AddDescribeFlags(CLI::App* cmd, describe::DescribeOptions* options, int* threads);

}  // namespace hashmatch::cli

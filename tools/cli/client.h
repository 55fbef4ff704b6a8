// tools/cli/client: how the client tools reach hashmatchd.
//
// Owns the connection flags shared by `hashmatch` and `hashmatch-ingest` (--server, --key-file,
// --role, --tls-ca), reading the API key (a file holding the key, or hashmatchd's demo-keys.json
// with a role), and the channel plus the per-call authorization metadata.
#pragma once

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace hashmatch::cli {

struct ConnectFlags {
  std::string server = "127.0.0.1:50051";
  std::string key_file = "hashmatch-data/demo-keys.json";
  std::string role;  // which key of a demo-keys.json; the command's default when empty
  std::string tls_ca;
};

void AddConnectFlags(CLI::App* cmd, ConnectFlags* flags, const std::string& default_role);

// The key: the first line of the file, or demo-keys.json["role"].
absl::StatusOr<std::string> ReadApiKey(const ConnectFlags& flags);

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectFlags& flags);

// A context carrying "authorization: Bearer <key>" and a deadline.
std::unique_ptr<grpc::ClientContext> MakeContext(const std::string& key, int deadline_seconds);

// "CODE: message" for stderr.
std::string DescribeRpcError(const grpc::Status& status);

}  // namespace hashmatch::cli

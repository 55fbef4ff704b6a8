#include "tools/cli/client.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hashmatch::cli {

void AddConnectFlags(CLI::App* cmd, ConnectFlags* flags, const std::string& default_role) {
  flags->role = default_role;
  cmd->add_option("--server", flags->server, "hashmatchd address")->capture_default_str();
  cmd->add_option("--key-file", flags->key_file,
                  "File holding the API key, or hashmatchd's demo-keys.json (with --role)")
      ->capture_default_str();
  cmd->add_option("--role", flags->role, "Which key of a demo-keys.json file to use")
      ->check(CLI::IsMember({"platform", "ict", "police", "admin"}))
      ->capture_default_str();
  cmd->add_option("--tls-ca", flags->tls_ca,
                  "PEM CA bundle: connect with TLS and trust this CA (default: plaintext, for "
                  "loopback)")
      ->check(CLI::ExistingFile);
}

absl::StatusOr<std::string> ReadApiKey(const ConnectFlags& flags) {
  std::ifstream in(flags.key_file);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the key file ", flags.key_file, " (give --key-file)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  const std::string content = text.str();
  const auto first = content.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flags.key_file, " is empty"));
  }
  if (content[first] != '{') {
    const auto end = content.find_first_of(" \t\r\n", first);
    return content.substr(first, end == std::string::npos ? std::string::npos : end - first);
  }
  const std::string tag = absl::StrCat("\"", flags.role, "\": \"");
  const auto at = content.find(tag);
  const auto close = at == std::string::npos ? at : content.find('"', at + tag.size());
  if (close == std::string::npos) {
    return absl::NotFoundError(absl::StrCat(flags.key_file, " has no key for role ", flags.role));
  }
  return content.substr(at + tag.size(), close - at - tag.size());
}

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectFlags& flags) {
  if (flags.tls_ca.empty()) {
    return grpc::CreateChannel(flags.server, grpc::InsecureChannelCredentials());
  }
  std::ifstream in(flags.tls_ca);
  std::stringstream pem;
  pem << in.rdbuf();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pem.str();
  return grpc::CreateChannel(flags.server, grpc::SslCredentials(ssl));
}

std::unique_ptr<grpc::ClientContext> MakeContext(const std::string& key, int deadline_seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", "Bearer " + key);
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(deadline_seconds));
  return context;
}

std::string DescribeRpcError(const grpc::Status& status) {
  // gRPC and Abseil number their status codes alike.
  return absl::StrCat(absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
                      ": ", status.error_message());
}

}  // namespace hashmatch::cli

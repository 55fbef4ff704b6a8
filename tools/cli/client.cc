#include "tools/cli/client.h"

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/sys/sys.h"

namespace hashmatch::cli {
namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 << 10;

}  // namespace

bool IsRefusal(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::PERMISSION_DENIED:
      return true;
    default:
      return false;
  }
}

void AddConnectFlags(CLI::App* cmd, ConnectFlags* flags, const std::string& default_role) {
  flags->role = default_role;
  cmd->add_option("--server", flags->server, "hashmatchd address")->capture_default_str();
  cmd->add_option("--key-file", flags->key_file,
                  "File holding the API key, or hashmatchd's demo-keys.json (with --role)")
      ->capture_default_str();
  cmd->add_option("--role", flags->role, "Which key of a demo-keys.json file to use")
      ->check(CLI::IsMember(std::vector<std::string>(kRoleNames.begin(), kRoleNames.end())))
      ->capture_default_str();
  cmd->add_option("--tls-ca", flags->tls_ca,
                  "PEM CA bundle: connect with TLS and trust this CA (default: plaintext, for "
                  "loopback)")
      ->check(CLI::ExistingFile);
}

absl::StatusOr<std::string> ReadApiKey(const ConnectFlags& flags) {
  absl::StatusOr<std::string> content =
      sys::ReadFileBoundedString(flags.key_file, kMaxKeyFileBytes);
  if (!content.ok()) {
    return Prefixed(content.status(), "cannot read the key file (give --key-file): ");
  }
  const auto first = content->find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(flags.key_file, " is empty"));
  }
  if ((*content)[first] != '{') {
    const auto end = content->find_first_of(" \t\r\n", first);
    return content->substr(first, end == std::string::npos ? std::string::npos : end - first);
  }
  const nlohmann::json keys = nlohmann::json::parse(*content, nullptr, /*allow_exceptions=*/false);
  if (keys.is_discarded() || !keys.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(flags.key_file, ": not a JSON object of role -> key"));
  }
  const auto it = keys.find(flags.role);
  if (it == keys.end() || !it->is_string() || it->get<std::string>().empty()) {
    return absl::NotFoundError(absl::StrCat(flags.key_file, " has no key for role ", flags.role));
  }
  return it->get<std::string>();
}

std::shared_ptr<grpc::Channel> MakeChannel(const ConnectFlags& flags) {
  if (flags.tls_ca.empty()) {
    return grpc::CreateChannel(flags.server, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  // --tls-ca was checked to exist when parsed; an unreadable one fails the handshake, which the
  // first call reports.
  ssl.pem_root_certs = sys::ReadFileBoundedString(flags.tls_ca, 1 << 20).value_or("");
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

absl::StatusOr<Connection> Connection::Open(const ConnectFlags& flags) {
  HM_ASSIGN_OR_RETURN(std::string key, ReadApiKey(flags));
  return Connection(std::move(key), MakeChannel(flags));
}

int Fail(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "%s: %s\n", std::string(command).c_str(), std::string(message).c_str());
  return kExitError;
}

int Fail(std::string_view command, const absl::Status& status) {
  return Fail(command, std::string(status.message()));
}

int FailRpc(std::string_view command, const grpc::Status& status) {
  return Fail(command, DescribeRpcError(status));
}

int RunProgram(CLI::App& app, int argc, char** argv, const int* exit_code) {
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitError;
  }
  return *exit_code;
}

void AddDescribeFlags(CLI::App* cmd, describe::DescribeOptions* options, int* threads) {
  cmd->add_option("--threads", *threads, "Files hashed in parallel (default: all cores)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-image-bytes", options->image_limits.max_bytes,
                  "Largest image accepted, bytes")
      ->capture_default_str();
  cmd->add_option("--max-pixels", options->image_limits.max_pixels,
                  "Largest image width*height accepted")
      ->capture_default_str();
  cmd->add_option("--max-side", options->image_limits.max_side,
                  "Largest image width or height accepted")
      ->capture_default_str();
  cmd->add_option("--max-video-bytes", options->video_limits.max_bytes,
                  "Largest video accepted, bytes")
      ->capture_default_str();
  cmd->add_option("--seconds-per-hash", options->seconds_per_hash,
                  "Videos: hash one frame per this many seconds (0: every frame)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

}  // namespace hashmatch::cli

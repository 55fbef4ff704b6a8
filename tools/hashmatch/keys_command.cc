// `hashmatch keys`: the operator's key management (AdminService, admin key): API keys for the
// users of the service, and the agencies' public keys that signed bundles must carry.
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"
#include "hashmatch/v1/admin.grpc.pb.h"
#include "tools/cli/client.h"
#include "tools/hashmatch/commands.h"

namespace hashmatch::client {

using bundle::ReadPublicKey;
using cli::AddConnectFlags;
using cli::ConnectFlags;

namespace {

namespace v1 = ::hashmatch::v1;

constexpr int kDeadlineSeconds = 60;

struct KeyFlags {
  ConnectFlags connect;
  std::string role;    // create
  std::string label;   // create
  double rate = 0;     // create
  std::string id;      // revoke, revoke-agency
  std::string agency;  // add-agency
  std::string pubkey;  // add-agency
};

// "police" for ROLE_POLICE: the proto's numbers follow kRoleNames' order from 1.
std::string RoleShortName(v1::Role role) {
  const int i = static_cast<int>(role) - 1;
  return i >= 0 && i < static_cast<int>(cli::kRoleNames.size()) ? std::string(cli::kRoleNames[i])
                                                                : "unknown";
}

// Runs one admin call: prints its error and returns its exit status, or returns `on_ok()`'s.
template <typename Request, typename Response, typename OnOk>
int AdminCall(const char* command, const ConnectFlags& connect,
              grpc::Status (v1::AdminService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                             Response*),
              const Request& request, Response* response, OnOk on_ok) {
  const std::string name = absl::StrCat("hashmatch keys ", command);
  absl::StatusOr<cli::Connection> connection = cli::Connection::Open(connect);
  if (!connection.ok()) return cli::Fail(name, connection.status());
  auto stub = v1::AdminService::NewStub(connection->channel());
  const grpc::Status status = connection->Call(*stub, method, request, response, kDeadlineSeconds);
  if (!status.ok()) return cli::FailRpc(name, status);
  return on_ok();
}

int RunCreate(const KeyFlags& f) {
  v1::CreateApiKeyRequest request;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  for (int r = v1::ROLE_PLATFORM; r <= v1::ROLE_ADMIN; ++r) {
    if (RoleShortName(static_cast<v1::Role>(r)) == f.role) role = static_cast<v1::Role>(r);
  }
  request.set_role(role);
  request.set_label(f.label);
  request.set_rate_per_second(f.rate);
  v1::CreateApiKeyResponse response;
  return AdminCall(
      "create", f.connect, &v1::AdminService::Stub::CreateApiKey, request, &response, [&] {
        std::printf("key_id\t%s\nsecret\t%s\n", response.key_id().c_str(),
                    response.secret().c_str());
        std::fprintf(stderr,
                     "Give the secret to its holder now: it is not stored and cannot be "
                     "shown again.\n");
        return 0;
      });
}

int RunList(const KeyFlags& f) {
  v1::ListApiKeysResponse response;
  return AdminCall("list", f.connect, &v1::AdminService::Stub::ListApiKeys,
                   v1::ListApiKeysRequest(), &response, [&] {
                     for (const v1::ApiKeyInfo& k : response.keys()) {
                       std::printf("%s\t%s\t%s\t%s\n", k.key_id().c_str(),
                                   RoleShortName(k.role()).c_str(),
                                   k.revoked_unix_ms() ? "revoked" : "active", k.label().c_str());
                     }
                     return 0;
                   });
}

int RunRevoke(const KeyFlags& f) {
  v1::RevokeApiKeyRequest request;
  request.set_key_id(f.id);
  v1::RevokeApiKeyResponse response;
  return AdminCall("revoke", f.connect, &v1::AdminService::Stub::RevokeApiKey, request, &response,
                   [&] {
                     std::printf("%s\trevoked\n", f.id.c_str());
                     return 0;
                   });
}

void PrintAgencyKey(const v1::AgencyKey& k) {
  std::printf("%s\t%s\t%s\n", k.fingerprint().c_str(), k.revoked_unix_ms() ? "revoked" : "active",
              k.agency().c_str());
}

int RunAddAgency(const KeyFlags& f) {
  const absl::StatusOr<std::string> public_key = ReadPublicKey(f.pubkey);
  if (!public_key.ok()) return cli::Fail("hashmatch keys add-agency", public_key.status());
  v1::AddAgencyKeyRequest request;
  request.set_agency(f.agency);
  request.set_public_key(*public_key);
  v1::AgencyKey response;
  return AdminCall("add-agency", f.connect, &v1::AdminService::Stub::AddAgencyKey, request,
                   &response, [&] {
                     PrintAgencyKey(response);
                     return 0;
                   });
}

int RunAgencies(const KeyFlags& f) {
  v1::ListAgencyKeysResponse response;
  return AdminCall("agencies", f.connect, &v1::AdminService::Stub::ListAgencyKeys,
                   v1::ListAgencyKeysRequest(), &response, [&] {
                     for (const v1::AgencyKey& k : response.keys()) PrintAgencyKey(k);
                     return 0;
                   });
}

int RunRevokeAgency(const KeyFlags& f) {
  v1::RevokeAgencyKeyRequest request;
  request.set_fingerprint(f.id);
  v1::RevokeAgencyKeyResponse response;
  return AdminCall("revoke-agency", f.connect, &v1::AdminService::Stub::RevokeAgencyKey, request,
                   &response, [&] {
                     std::printf("%s\trevoked\n", f.id.c_str());
                     return 0;
                   });
}

}  // namespace

void AddKeysCommands(CLI::App& app, int* exit_code) {
  CLI::App* keys = app.add_subcommand(
      "keys",
      "Manage API keys and agency signing keys on the server (admin key). Output is "
      "tab-separated.");
  keys->require_subcommand(1);
  const auto add = [&](const char* name, const char* help, int (*run)(const KeyFlags&)) {
    auto flags = std::make_shared<KeyFlags>();
    CLI::App* cmd = keys->add_subcommand(name, help);
    AddConnectFlags(cmd, &flags->connect, "admin");
    cmd->callback([flags, exit_code, run] { *exit_code = run(*flags); });
    return std::make_pair(cmd, flags);
  };

  auto [create, create_flags] =
      add("create", "Create an API key; prints its id and its secret (shown once)", RunCreate);
  create->add_option("ROLE", create_flags->role, "platform, ict, police or admin")
      ->required()
      ->check(
          CLI::IsMember(std::vector<std::string>(cli::kRoleNames.begin(), cli::kRoleNames.end())));
  create->add_option("--label", create_flags->label, "Who holds it (at most 256 bytes)");
  create->add_option("--rate", create_flags->rate, "Calls per second (0: the server's default)")
      ->check(CLI::NonNegativeNumber);

  add("list", "List API keys: id, role, active/revoked, label (never secrets)", RunList);

  auto [revoke, revoke_flags] = add("revoke", "Revoke an API key by id", RunRevoke);
  revoke->add_option("KEY_ID", revoke_flags->id, "The key's id (from keys list)")->required();

  auto [add_agency, agency_flags] =
      add("add-agency",
          "Register an agency's bundle-signing public key (hashmatch-ingest keygen's PREFIX.pub). "
          "The server then imports bundles signed by it whose header names this agency. Prints the "
          "key's fingerprint.",
          RunAddAgency);
  add_agency->add_option("--name", agency_flags->agency, "The agency, as its bundles name it")
      ->required();
  add_agency->add_option("--pubkey", agency_flags->pubkey, "PREFIX.pub")
      ->required()
      ->check(CLI::ExistingFile);

  add("agencies", "List agency keys: fingerprint, active/revoked, agency", RunAgencies);

  auto [revoke_agency, revoke_agency_flags] =
      add("revoke-agency",
          "Revoke an agency key: bundles it signed are refused from then on (descriptors already "
          "imported stay)",
          RunRevokeAgency);
  revoke_agency->add_option("FINGERPRINT", revoke_agency_flags->id, "From keys agencies")
      ->required();
}

}  // namespace hashmatch::client

// hashmatch-ingest review list | verify | reject | retract: the police's review of what the ICT
// department submitted, and withdrawal of verified descriptors (IngestService.ListDescriptors and
// SetStatus). Every decision is audited by the server and reaches the live index within a second.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/core/core.h"
#include "hashmatch/v1/ingest.grpc.pb.h"
#include "tools/cli/client.h"
#include "tools/hashmatch-ingest/commands.h"

namespace hashmatch::ingest {

using cli::AddConnectFlags;
using cli::ConnectFlags;
using cli::DescribeRpcError;

namespace {

namespace v1 = ::hashmatch::v1;

struct ListFlags {
  ConnectFlags connect;
  std::string status = "candidate";
  std::string category;
  std::int64_t limit = 1'000;
};

struct DecideFlags {
  ConnectFlags connect;
  std::vector<std::int64_t> ids;
  std::string reason;
};

std::string ShortName(const std::string& enum_name) {
  return enum_name.substr(enum_name.rfind('_') + 1);  // "DESCRIPTOR_STATUS_CANDIDATE" -> ...
}

int Fail(const char* command, const std::string& message) {
  return cli::Fail(absl::StrCat("hashmatch-ingest review ", command), message);
}

// One tab-separated line per descriptor: id, signal, value (hex), quality, category, status,
// agencies. Exit 0 (even when the list is empty), 2 on error.
int RunList(const ListFlags& flags) {
  const absl::StatusOr<cli::Connection> connection = cli::Connection::Open(flags.connect);
  if (!connection.ok()) return Fail("list", std::string(connection.status().message()));
  v1::DescriptorStatus status = v1::DESCRIPTOR_STATUS_UNSPECIFIED;
  for (int s = v1::DESCRIPTOR_STATUS_CANDIDATE; s <= v1::DESCRIPTOR_STATUS_RETRACTED; ++s) {
    std::string name = ShortName(v1::DescriptorStatus_Name(static_cast<v1::DescriptorStatus>(s)));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == flags.status) status = static_cast<v1::DescriptorStatus>(s);
  }
  auto stub = v1::IngestService::NewStub(connection->channel());
  v1::ListDescriptorsRequest request;
  request.set_status(status);
  request.set_category(flags.category);
  std::int64_t printed = 0;
  do {
    request.set_page_size(static_cast<int>(std::min<std::int64_t>(1'000, flags.limit - printed)));
    v1::ListDescriptorsResponse page;
    const grpc::Status rpc =
        connection->Call(*stub, &v1::IngestService::Stub::ListDescriptors, request, &page, 60);
    if (!rpc.ok()) return Fail("list", DescribeRpcError(rpc));
    for (const v1::Descriptor& d : page.descriptors()) {
      std::vector<std::string> agencies;
      for (const v1::Provenance& p : d.provenance()) agencies.push_back(p.agency());
      std::printf("%lld\t%s\t%s\t%s\t%s\t%s\t%s\n", static_cast<long long>(d.id()),
                  ShortName(v1::Signal_Name(d.hash().signal())).c_str(),
                  EncodeHex(d.hash().raw()).c_str(),
                  d.hash().has_quality() ? std::to_string(d.hash().quality()).c_str() : "-",
                  d.category().c_str(), ShortName(v1::DescriptorStatus_Name(d.status())).c_str(),
                  absl::StrJoin(agencies, ",").c_str());
      ++printed;
    }
    request.set_after_id(page.next_after_id());
  } while (request.after_id() != 0 && printed < flags.limit);
  return 0;
}

// Applies one decision to each id; reports each. Exit 0 when all succeeded, 2 otherwise.
int RunDecide(const char* command, v1::DescriptorStatus to, const DecideFlags& flags) {
  const absl::StatusOr<cli::Connection> connection = cli::Connection::Open(flags.connect);
  if (!connection.ok()) return Fail(command, std::string(connection.status().message()));
  auto stub = v1::IngestService::NewStub(connection->channel());
  int exit_code = cli::kExitOk;
  for (const std::int64_t id : flags.ids) {
    v1::SetStatusRequest request;
    request.set_descriptor_id(id);
    request.set_status(to);
    request.set_reason(flags.reason);
    v1::SetStatusResponse response;
    const grpc::Status rpc =
        connection->Call(*stub, &v1::IngestService::Stub::SetStatus, request, &response, 60);
    if (!rpc.ok()) {
      exit_code = Fail(command, "descriptor " + std::to_string(id) + ": " + DescribeRpcError(rpc));
      continue;
    }
    std::printf("%lld\t%s\tcommit seq %lld\n", static_cast<long long>(id),
                ShortName(v1::DescriptorStatus_Name(to)).c_str(),
                static_cast<long long>(response.commit_seq()));
  }
  return exit_code;
}

}  // namespace

void AddReviewCommands(CLI::App& app, int* exit_code) {
  CLI::App* review = app.add_subcommand(
      "review",
      "Review descriptors on the server: list the queue; verify or reject candidates; retract "
      "(police key; ict keys may list).");
  review->require_subcommand(1);

  auto list = std::make_shared<ListFlags>();
  CLI::App* list_cmd = review->add_subcommand(
      "list",
      "Print descriptors with a status (default: the candidates awaiting review), one "
      "tab-separated line each: id, signal, value (hex), quality, category, status, agencies");
  AddConnectFlags(list_cmd, &list->connect, "police");
  list_cmd->add_option("--status", list->status, "candidate, verified, rejected or retracted")
      ->capture_default_str()
      ->check(CLI::IsMember({"candidate", "verified", "rejected", "retracted"}));
  list_cmd->add_option("--category", list->category, "Only this category");
  list_cmd->add_option("--limit", list->limit, "Most lines to print")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  list_cmd->callback([list, exit_code] { *exit_code = RunList(*list); });

  struct Decision {
    const char* name;
    v1::DescriptorStatus status;
    const char* help;
    bool needs_reason;
  };
  for (const Decision& d : {
           Decision{"verify", v1::DESCRIPTOR_STATUS_VERIFIED,
                    "Verify candidates: they match for every role from then on", false},
           Decision{"reject", v1::DESCRIPTOR_STATUS_REJECTED,
                    "Reject candidates (with --reason): they never match", true},
           Decision{"retract", v1::DESCRIPTOR_STATUS_RETRACTED,
                    "Withdraw candidates or verified descriptors (with --reason): they stop "
                    "matching within a second",
                    true},
       }) {
    auto flags = std::make_shared<DecideFlags>();
    CLI::App* cmd = review->add_subcommand(d.name, d.help);
    cmd->add_option("IDS", flags->ids, "Descriptor ids (from review list)")->required();
    CLI::Option* reason = cmd->add_option("--reason", flags->reason,
                                          "Why (kept with the descriptor and in the audit log)");
    if (d.needs_reason) reason->required();
    AddConnectFlags(cmd, &flags->connect, "police");
    cmd->callback([d, flags, exit_code] { *exit_code = RunDecide(d.name, d.status, *flags); });
  }
}

}  // namespace hashmatch::ingest

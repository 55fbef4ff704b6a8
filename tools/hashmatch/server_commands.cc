// `hashmatch stats` and `hashmatch audit verify`: the operator's read-outs of hashmatchd (admin
// key). `hashmatch match` is in match_command.cc.
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "hashmatch/v1/admin.grpc.pb.h"
#include "tools/cli/client.h"
#include "tools/hashmatch/commands.h"

namespace hashmatch::client {

using cli::AddConnectFlags;
using cli::ConnectFlags;

namespace {

namespace v1 = ::hashmatch::v1;

int RunStats(const ConnectFlags& connect) {
  const absl::StatusOr<cli::Connection> connection = cli::Connection::Open(connect);
  if (!connection.ok()) return cli::Fail("hashmatch stats", connection.status());
  v1::Stats stats;
  const grpc::Status status =
      connection->Call(*v1::AdminService::NewStub(connection->channel()),
                       &v1::AdminService::Stub::GetStats, v1::GetStatsRequest(), &stats, 60);
  if (!status.ok()) return cli::FailRpc("hashmatch stats", status);
  for (const v1::DescriptorCount& c : stats.descriptors()) {
    std::printf("descriptors\t%s\t%s\t%s\t%lld\n", c.signal().c_str(), c.status().c_str(),
                c.category().c_str(), static_cast<long long>(c.count()));
  }
  std::printf(
      "index_entries\t%lld\nindex_memory_bytes\t%lld\nindex_applied_seq\t%lld\n"
      "lookups\t%lld\nmatches\t%lld\n",
      static_cast<long long>(stats.index_entries()),
      static_cast<long long>(stats.index_memory_bytes()),
      static_cast<long long>(stats.index_applied_seq()), static_cast<long long>(stats.lookups()),
      static_cast<long long>(stats.matches()));
  for (const v1::MethodStats& m : stats.methods()) {
    // Sorted by code name: the proto map has no order.
    const std::map<std::string, std::int64_t> calls(m.calls_by_code().begin(),
                                                    m.calls_by_code().end());
    for (const auto& [code, count] : calls) {
      std::printf("calls\t%s\t%s\t%lld\n", m.method().c_str(), code.c_str(),
                  static_cast<long long>(count));
    }
    std::printf("latency_ms\t%s\tp50=%.3f\tp99=%.3f\n", m.method().c_str(),
                1e3 * m.latency_p50_seconds(), 1e3 * m.latency_p99_seconds());
  }
  return cli::kExitOk;
}

int RunAuditVerify(const ConnectFlags& connect) {
  const absl::StatusOr<cli::Connection> connection = cli::Connection::Open(connect);
  if (!connection.ok()) return cli::Fail("hashmatch audit verify", connection.status());
  v1::VerifyAuditResponse response;
  const grpc::Status status = connection->Call(*v1::AdminService::NewStub(connection->channel()),
                                               &v1::AdminService::Stub::VerifyAudit,
                                               v1::VerifyAuditRequest(), &response, 600);
  if (!status.ok()) return cli::FailRpc("hashmatch audit verify", status);
  if (response.intact()) {
    std::printf("audit: intact, %lld records\n", static_cast<long long>(response.records()));
    return cli::kExitOk;
  }
  std::printf("audit: NOT intact after %lld good records: %s\n",
              static_cast<long long>(response.records()), response.problem().c_str());
  return cli::kExitNo;
}

}  // namespace

void AddServerCommands(CLI::App& app, int* exit_code) {
  auto stats = std::make_shared<ConnectFlags>();
  CLI::App* stats_cmd = app.add_subcommand(
      "stats",
      "Print the server's descriptor counts (by signal and status), index size and "
      "lookup counters, one tab-separated line each (admin key).");
  AddConnectFlags(stats_cmd, stats.get(), "admin");
  stats_cmd->callback([stats, exit_code] { *exit_code = RunStats(*stats); });

  auto audit = std::make_shared<ConnectFlags>();
  CLI::App* audit_cmd = app.add_subcommand("audit", "Audit log commands (admin key)");
  audit_cmd->require_subcommand(1);
  CLI::App* verify = audit_cmd->add_subcommand(
      "verify",
      "Have the server re-check its audit log's SHA-256 chain. Exit 0 intact, 1 tampered (the "
      "first bad record is named), 2 on error.");
  AddConnectFlags(verify, audit.get(), "admin");
  verify->callback([audit, exit_code] { *exit_code = RunAuditVerify(*audit); });
}

}  // namespace hashmatch::client

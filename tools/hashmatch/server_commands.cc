// `hashmatch match`, `hashmatch stats`, `hashmatch audit verify`: the commands that talk to
// hashmatchd. By default `match` hashes locally and sends only hashes.
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "hashmatch/v1/admin.grpc.pb.h"
#include "hashmatch/v1/match.grpc.pb.h"
#include "tools/common/client.h"
#include "tools/common/local_hash.h"
#include "tools/hashmatch/commands.h"

namespace hashmatch::tools {
namespace {

constexpr int kDeadlineSeconds = 60;
constexpr std::size_t kFilesPerCall = 2'500;  // 4 hashes each: the server's 10 000 batch limit

struct MatchFlags {
  std::vector<std::string> paths;
  ConnectFlags connect;
  bool send_media = false;
  int threads = DefaultThreads();
};

std::string Describe(const v1::Match& m) {
  if (m.descriptor_id() == 0)
    return absl::StrCat("category=", m.category(), " ref=", m.match_ref());
  const std::string signal = v1::Signal_Name(m.signal());  // "SIGNAL_PDQ" -> "PDQ"
  return absl::StrCat("id=", m.descriptor_id(), " signal=", signal.substr(signal.find('_') + 1),
                      " distance=", m.distance(), " category=", m.category());
}

// One output line; returns whether it matched.
bool PrintResult(const std::string& path,
                 const google::protobuf::RepeatedPtrField<v1::Match>& matches) {
  std::vector<std::string> what;
  std::set<std::string> seen;  // a file matching by PDQ and digests names its descriptor once
  for (const v1::Match& m : matches) {
    if (seen.insert(m.match_ref()).second) what.push_back(Describe(m));
  }
  if (what.empty()) {
    std::printf("%s\tno-match\n", path.c_str());
    return false;
  }
  std::printf("%s\tmatch\t%s\n", path.c_str(), absl::StrJoin(what, "; ").c_str());
  return true;
}

v1::HashValue Hash(v1::Signal signal, const auto& value) {
  v1::HashValue h;
  h.set_signal(signal);
  h.set_raw(std::string(reinterpret_cast<const char*>(value.bytes.data()), value.bytes.size()));
  return h;
}

int RunMatch(const MatchFlags& flags) {
  absl::StatusOr<std::vector<std::string>> files = ListInputFiles(flags.paths);
  absl::StatusOr<std::string> key = ReadApiKey(flags.connect);
  for (const absl::Status& s : {files.status(), key.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "hashmatch match: %s\n", std::string(s.message()).c_str());
      return 2;
    }
  }
  auto stub = v1::MatchService::NewStub(MakeChannel(flags.connect));
  bool any_match = false, any_error = false;
  const auto fail_rpc = [](const grpc::Status& status) {
    std::fprintf(stderr, "hashmatch match: %s\n", DescribeRpcError(status).c_str());
    return 2;
  };
  const auto fail_file = [&](const std::string& path, const absl::Status& status) {
    any_error = true;
    const std::string message(status.message());
    std::fprintf(stderr, "hashmatch match: %s%s%s\n",
                 message.rfind(path + ":", 0) == 0 ? "" : path.c_str(),
                 message.rfind(path + ":", 0) == 0 ? "" : ": ", message.c_str());
  };

  if (flags.send_media) {
    for (const std::string& path : *files) {
      absl::StatusOr<std::vector<std::uint8_t>> bytes =
          ReadFileBounded(path, media::ImageLimits{}.max_bytes);
      if (!bytes.ok()) {
        fail_file(path, bytes.status());
        continue;
      }
      v1::MatchMediaRequest request;
      request.set_media(std::string(bytes->begin(), bytes->end()));
      v1::MatchMediaResponse response;
      const grpc::Status status =
          stub->MatchMedia(MakeContext(*key, kDeadlineSeconds).get(), request, &response);
      if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
        fail_file(path, absl::InvalidArgumentError(status.error_message()));
        continue;
      }
      if (!status.ok()) return fail_rpc(status);
      any_match |= PrintResult(path, response.matches());
    }
    return any_error ? 2 : any_match ? 0 : 1;
  }

  // Hash here (all cores), then ask in batches; print in input order.
  std::vector<std::unique_ptr<LocalHasher>> hashers;
  for (int t = 0; t < flags.threads; ++t) hashers.push_back(std::make_unique<LocalHasher>());
  for (std::size_t begin = 0; begin < files->size(); begin += kFilesPerCall) {
    const std::size_t end = std::min(files->size(), begin + kFilesPerCall);
    std::vector<absl::StatusOr<ImageDescriptors>> hashed(end - begin,
                                                         absl::UnknownError("not hashed"));
    ParallelOrdered(
        end - begin, flags.threads,
        [&](int thread, std::size_t i) {
          hashed[i] = hashers[thread]->HashImageFile((*files)[begin + i], false);
        },
        [](std::size_t) {});
    v1::MatchHashesRequest request;
    std::vector<std::size_t> first_item(hashed.size(), 0);
    for (std::size_t i = 0; i < hashed.size(); ++i) {
      first_item[i] = static_cast<std::size_t>(request.hashes_size());
      if (!hashed[i].ok()) continue;
      v1::HashValue pdq = Hash(v1::SIGNAL_PDQ, hashed[i]->pdq.hash);
      pdq.set_quality(hashed[i]->pdq.quality);
      *request.add_hashes() = pdq;
      *request.add_hashes() = Hash(v1::SIGNAL_MD5, hashed[i]->digests.md5);
      *request.add_hashes() = Hash(v1::SIGNAL_SHA1, hashed[i]->digests.sha1);
      *request.add_hashes() = Hash(v1::SIGNAL_SHA256, hashed[i]->digests.sha256);
    }
    v1::MatchHashesResponse response;
    if (request.hashes_size() > 0) {
      const grpc::Status status =
          stub->MatchHashes(MakeContext(*key, kDeadlineSeconds).get(), request, &response);
      if (!status.ok()) return fail_rpc(status);
    }
    for (std::size_t i = 0; i < hashed.size(); ++i) {
      const std::string& path = (*files)[begin + i];
      if (!hashed[i].ok()) {
        fail_file(path, hashed[i].status());
        continue;
      }
      google::protobuf::RepeatedPtrField<v1::Match> matches;
      for (std::size_t k = first_item[i]; k < first_item[i] + 4; ++k) {
        const v1::HashResult& r = response.results(static_cast<int>(k));
        if (r.has_error()) {
          fail_file(path, absl::InvalidArgumentError(r.error().message()));
        }
        for (const v1::Match& m : r.matches()) *matches.Add() = m;
      }
      any_match |= PrintResult(path, matches);
    }
  }
  std::fflush(stdout);
  return any_error ? 2 : any_match ? 0 : 1;
}

int RunStats(const ConnectFlags& connect) {
  absl::StatusOr<std::string> key = ReadApiKey(connect);
  if (!key.ok()) {
    std::fprintf(stderr, "hashmatch stats: %s\n", std::string(key.status().message()).c_str());
    return 2;
  }
  v1::Stats stats;
  const grpc::Status status =
      v1::AdminService::NewStub(MakeChannel(connect))
          ->GetStats(MakeContext(*key, kDeadlineSeconds).get(), v1::GetStatsRequest(), &stats);
  if (!status.ok()) {
    std::fprintf(stderr, "hashmatch stats: %s\n", DescribeRpcError(status).c_str());
    return 2;
  }
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
  return 0;
}

int RunAuditVerify(const ConnectFlags& connect) {
  absl::StatusOr<std::string> key = ReadApiKey(connect);
  if (!key.ok()) {
    std::fprintf(stderr, "hashmatch audit verify: %s\n",
                 std::string(key.status().message()).c_str());
    return 2;
  }
  v1::VerifyAuditResponse response;
  const grpc::Status status =
      v1::AdminService::NewStub(MakeChannel(connect))
          ->VerifyAudit(MakeContext(*key, 600).get(), v1::VerifyAuditRequest(), &response);
  if (!status.ok()) {
    std::fprintf(stderr, "hashmatch audit verify: %s\n", DescribeRpcError(status).c_str());
    return 2;
  }
  if (response.intact()) {
    std::printf("audit: intact, %lld records\n", static_cast<long long>(response.records()));
    return 0;
  }
  std::printf("audit: NOT intact after %lld good records: %s\n",
              static_cast<long long>(response.records()), response.problem().c_str());
  return 1;
}

}  // namespace

void AddServerCommands(CLI::App& app, int* exit_code) {
  auto match = std::make_shared<MatchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "match",
      "Ask hashmatchd whether image files are known. By default the files are hashed here and "
      "only their hashes (PDQ, MD5, SHA-1, SHA-256) are sent; --send-media sends the bytes.\n\n"
      "One line per file: path, then 'match' and what matched (a platform key sees the category "
      "and a match reference; ict and police keys also see the descriptor id, signal and "
      "distance), or 'no-match'.\n"
      "Exit status like grep: 0 when anything matched, 1 when nothing did, 2 on any error (the "
      "gRPC status and message on stderr).");
  cmd->add_option("paths", match->paths, "Image files or folders (searched recursively)")
      ->required();
  AddConnectFlags(cmd, &match->connect, "platform");
  cmd->add_flag("--send-media", match->send_media,
                "Send the image bytes (the server hashes them in memory and discards them)");
  cmd->add_option("--threads", match->threads, "Files hashed in parallel (default: all cores)")
      ->check(CLI::Range(1, 256));
  cmd->callback([match, exit_code] { *exit_code = RunMatch(*match); });

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

}  // namespace hashmatch::tools

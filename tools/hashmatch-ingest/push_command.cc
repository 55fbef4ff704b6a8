// hashmatch-ingest push: upload a signed bundle to hashmatchd (IngestService.PushBundle), resuming
// from the bytes the server already staged after a dropped connection or a server restart.
#include <openssl/sha.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>

#include "engine/bundle/bundle.h"
#include "engine/sys/sys.h"
#include "hashmatch/v1/ingest.grpc.pb.h"
#include "tools/cli/client.h"
#include "tools/hashmatch-ingest/commands.h"

namespace hashmatch::ingest {

using bundle::Bundle;
using bundle::ScanBundle;
using cli::AddConnectFlags;
using cli::ConnectFlags;
using cli::DescribeRpcError;
using cli::MakeContext;

namespace {

namespace v1 = ::hashmatch::v1;

struct PushFlags {
  std::string bundle;
  ConnectFlags connect;
  int retries = 6;
  int chunk_bytes = 1 << 20;
  std::int64_t stop_after_bytes = -1;  // test hook: drop the connection after this many bytes
};

// Worth another attempt: the connection or the server went away, or another push of the same
// bundle held it.
bool Retryable(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::FAILED_PRECONDITION:  // the staged size moved: ask again
    case grpc::StatusCode::INTERNAL:
      return true;
    default:
      return false;
  }
}

void PrintImport(const v1::BundleImport& i, bool earlier) {
  const std::string status = v1::DescriptorStatus_Name(i.status());
  std::printf(
      "bundle %s%s: %lld records from agency \"%s\" (signed by %s)\n"
      "added %lld, merged %lld (already known), rejected 0; status %s; commit seq %lld\n",
      i.bundle_id().c_str(), earlier ? " was already imported" : " imported",
      static_cast<long long>(i.records()), i.agency().c_str(), i.signer_fingerprint().c_str(),
      static_cast<long long>(i.added()), static_cast<long long>(i.merged()),
      status.substr(status.rfind('_') + 1).c_str(), static_cast<long long>(i.commit_seq()));
}

// Sends bytes[offset..] in chunks, the last one marked finish (unless the test hook stops first).
grpc::Status Upload(v1::IngestService::Stub& stub, const std::string& key, const PushFlags& flags,
                    const std::string& file_sha256, const std::string& bytes, std::int64_t offset,
                    v1::PushBundleResponse* response) {
  auto context = MakeContext(key, 3600);
  auto writer = stub.PushBundle(context.get(), response);
  const bool tty = isatty(STDERR_FILENO) != 0;
  auto last_report = std::chrono::steady_clock::now();
  const auto total = static_cast<std::int64_t>(bytes.size());
  std::int64_t at = offset;
  bool sent_all = false;
  while (!sent_all) {
    const std::int64_t n = std::min<std::int64_t>(flags.chunk_bytes, total - at);
    v1::PushBundleRequest message;
    if (at == offset) {
      message.set_file_sha256(file_sha256);
      message.set_offset(offset);
    }
    message.set_data(bytes.substr(static_cast<std::size_t>(at), static_cast<std::size_t>(n)));
    at += n;
    if (flags.stop_after_bytes >= 0 && at >= flags.stop_after_bytes) {
      // End the stream without `finish`: what was sent is staged, as after a drop, but
      // deterministically (a cancel could overtake the buffered messages).
      writer->Write(message);
      writer->WritesDone();
      writer->Finish().IgnoreError();
      return grpc::Status(grpc::StatusCode::CANCELLED,
                          "stopped after " + std::to_string(at) + " bytes (--stop-after-bytes); " +
                              std::to_string(response->received_bytes()) + " are staged");
    }
    sent_all = at == total;
    message.set_finish(sent_all);
    if (!writer->Write(message)) break;  // the server ended the call: Finish says why
    const auto now = std::chrono::steady_clock::now();
    if (tty && now - last_report > std::chrono::milliseconds(500)) {
      std::fprintf(stderr, "\ruploaded %lld / %lld bytes", static_cast<long long>(at),
                   static_cast<long long>(total));
      last_report = now;
    }
  }
  if (tty) std::fprintf(stderr, "\r%60s\r", "");
  writer->WritesDone();
  return writer->Finish();
}

int RunPush(const PushFlags& flags) {
  const auto fail = [](const auto& why) { return cli::Fail("hashmatch-ingest push", why); };
  const absl::StatusOr<cli::Connection> connection = cli::Connection::Open(flags.connect);
  if (!connection.ok()) return fail(connection.status());
  const std::string* const key = &connection->key();
  const absl::StatusOr<std::string> read =
      sys::ReadFileBoundedString(flags.bundle, bundle::BundleLimits().max_bytes);
  if (!read.ok()) return fail(read.status());
  const std::string& bytes = *read;
  // Refuse locally what the server would refuse: a damaged or unsigned bundle.
  const absl::StatusOr<Bundle> bundle = ScanBundle(bytes, {}, nullptr);
  if (!bundle.ok()) return fail(flags.bundle + ": " + std::string(bundle.status().message()));
  if (!bundle->signature) {
    return fail(flags.bundle + " is not signed: hashmatch-ingest sign BUNDLE --key PREFIX.key");
  }
  const std::string& bundle_id = bundle->header.bundle_id();
  Sha256 digest;
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), digest.bytes.data());
  const std::string file_sha256 = digest.ToHex();
  auto stub = v1::IngestService::NewStub(connection->channel());

  bool restarted_from_zero = false;
  for (int attempt = 0;; ++attempt) {
    if (attempt > 0) {
      const int wait = std::min(1 << (attempt - 1), 8);
      std::fprintf(stderr, "hashmatch-ingest push: retrying in %d s (attempt %d of %d)\n", wait,
                   attempt + 1, flags.retries + 1);
      std::this_thread::sleep_for(std::chrono::seconds(wait));
    }
    v1::GetBundleUploadRequest ask;
    ask.set_file_sha256(file_sha256);
    v1::BundleUpload upload;
    grpc::Status status =
        connection->Call(*stub, &v1::IngestService::Stub::GetBundleUpload, ask, &upload, 30);
    if (status.ok() && upload.has_imported()) {
      PrintImport(upload.imported(), true);
      return cli::kExitOk;
    }
    std::int64_t offset = status.ok() ? upload.received_bytes() : 0;
    if (status.ok() && offset > static_cast<std::int64_t>(bytes.size())) offset = 0;
    if (status.ok() && offset > 0) {
      std::fprintf(stderr, "hashmatch-ingest push: resuming at byte %lld of %zu\n",
                   static_cast<long long>(offset), bytes.size());
    }
    v1::PushBundleResponse response;
    if (status.ok()) status = Upload(*stub, *key, flags, file_sha256, bytes, offset, &response);
    if (status.ok()) {
      PrintImport(response.imported(), response.already_imported());
      return cli::kExitOk;
    }
    // GetBundleUpload above passed the role check, so a refusal here is the bundle's own
    // (signer, agency, signature, records): final, whatever the message says.
    if (cli::IsRefusal(status)) {
      constexpr std::string_view kRefused = "bundle refused, nothing added: ";
      std::string why = status.error_message();
      if (why.rfind(kRefused, 0) == 0) why.erase(0, kRefused.size());
      std::printf("bundle %s rejected: all %lld records, nothing added: %s\n", bundle_id.c_str(),
                  static_cast<long long>(bundle->header.count()), why.c_str());
      return cli::kExitNo;
    }
    std::fprintf(stderr, "hashmatch-ingest push: %s\n", DescribeRpcError(status).c_str());
    if (flags.stop_after_bytes >= 0) return cli::kExitError;
    // The server discarded staged bytes that did not verify, yet the file here does: the staged
    // copy was damaged (e.g. a crash mid-write). Send the whole file once more.
    const bool damaged_in_transit =
        status.error_code() == grpc::StatusCode::DATA_LOSS && !restarted_from_zero;
    if (damaged_in_transit) restarted_from_zero = true;
    if (!(Retryable(status) || damaged_in_transit) || attempt >= flags.retries) {
      return cli::kExitError;
    }
  }
}

}  // namespace

void AddPushCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<PushFlags>();
  CLI::App* cmd = app.add_subcommand(
      "push",
      "Upload a signed bundle to hashmatchd. The server imports it only when its signer is a "
      "registered agency key (hashmatch keys add-agency) for the agency its header names; a "
      "police key adds VERIFIED descriptors, an ict key CANDIDATEs.\n"
      "Idempotent: pushing again adds nothing and prints the first import's counts. After a "
      "dropped connection or a server restart it resumes from the bytes the server already "
      "holds, retrying with back-off.\n"
      "Prints the records added, merged (already known) and rejected. Exit 0 imported, 1 the "
      "server refused the bundle (the reason is printed; nothing was added), 2 other errors.");
  cmd->add_option("BUNDLE", flags->bundle, "The signed bundle")
      ->required()
      ->check(CLI::ExistingFile);
  AddConnectFlags(cmd, &flags->connect, "police");
  cmd->add_option("--retries", flags->retries, "Attempts after the first when the connection fails")
      ->capture_default_str()
      ->check(CLI::Range(0, 100));
  cmd->add_option("--chunk-bytes", flags->chunk_bytes, "Bytes per message (at most 1 MiB)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--stop-after-bytes", flags->stop_after_bytes,
                  "Testing: drop the connection after sending this many bytes")
      ->group("");  // hidden
  cmd->callback([flags, exit_code] { *exit_code = RunPush(*flags); });
}

}  // namespace hashmatch::ingest

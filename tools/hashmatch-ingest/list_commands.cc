// hashmatch-ingest import | export: exchange formats (formats.h) to and from descriptor bundles
// and the server. import writes an unsigned bundle (then sign and push it); export reads the
// server's descriptors (ListDescriptors: ict and police keys) or a bundle.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"
#include "engine/sys/sys.h"
#include "hashmatch/v1/ingest.grpc.pb.h"
#include "tools/cli/client.h"
#include "tools/hashmatch-ingest/commands.h"
#include "tools/hashmatch-ingest/formats.h"

namespace hashmatch::ingest {

using bundle::Bundle;
using bundle::ReadBundle;
using bundle::WriteBundle;
using cli::AddConnectFlags;
using cli::ConnectFlags;
using cli::DescribeRpcError;
using cli::MakeContext;

namespace {

namespace v1 = ::hashmatch::v1;

constexpr std::size_t kProblemsShown = 100;

struct ImportFlags {
  std::string file;
  std::string format;
  std::string out;
  std::string agency;
  std::string case_ref;
  std::string contributor;
  ImportOptions options;
  bool skip_invalid = false;
  bool to_server = false;
  ConnectFlags connect;
};

struct ExportFlags {
  std::string format;
  std::string out;
  std::string from_bundle;
  std::string status = "verified";
  std::string category;
  ConnectFlags connect;
};

int Fail(const char* command, const std::string& message) {
  return cli::Fail(absl::StrCat("hashmatch-ingest ", command), message);
}

// Exit 0: bundle written (with --skip-invalid, invalid lines are reported and left out); 1: the
// file has invalid lines or records (each reported; nothing written) or nothing to import; 2:
// other errors.
// Sends the records through AddDescriptors in batches of 10 000, each all-or-nothing and
// acknowledged after its commit (police: VERIFIED, ict: CANDIDATE).
int SendToServer(const ImportFlags& flags, const std::vector<ListRecord>& records) {
  const absl::StatusOr<cli::Connection> connection = cli::Connection::Open(flags.connect);
  if (!connection.ok()) return Fail("import", std::string(connection.status().message()));
  auto stub = v1::IngestService::NewStub(connection->channel());
  auto context = MakeContext(connection->key(), 3600);
  auto stream = stub->AddDescriptors(context.get());
  constexpr std::size_t kBatch = 10'000;
  std::int64_t added = 0, merged = 0, seq = 0;
  for (std::size_t done = 0; done < records.size(); done += kBatch) {
    v1::AddDescriptorsRequest request;
    request.mutable_contribution()->set_agency(flags.agency);
    request.mutable_contribution()->set_case_ref(flags.case_ref);
    for (std::size_t i = done; i < std::min(records.size(), done + kBatch); ++i) {
      v1::NewDescriptor* item = request.add_items();
      item->mutable_hash()->set_signal(static_cast<v1::Signal>(records[i].signal));
      item->mutable_hash()->set_raw(records[i].value);
      if (records[i].quality >= 0) item->mutable_hash()->set_quality(records[i].quality);
      item->set_category(records[i].category);
    }
    v1::AddDescriptorsResponse response;
    if (!stream->Write(request) || !stream->Read(&response)) break;
    for (const int outcome : response.outcomes()) {
      ++(outcome == v1::ADD_OUTCOME_ADDED ? added : merged);
    }
    seq = response.commit_seq();
  }
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  std::printf("%s: added %lld, merged %lld (already known) of %zu records; commit seq %lld\n",
              flags.file.c_str(), static_cast<long long>(added), static_cast<long long>(merged),
              records.size(), static_cast<long long>(seq));
  if (!status.ok()) {
    return Fail("import",
                "stopped: " + DescribeRpcError(status) + " (acknowledged batches are stored)");
  }
  return 0;
}

int WriteImportBundle(const ImportFlags& flags, const ImportResult& result) {
  std::vector<v1::BundleRecord> records;
  records.reserve(result.records.size());
  std::map<std::string, std::int64_t> by_signal;
  for (const ListRecord& r : result.records) {
    v1::BundleRecord& out = records.emplace_back();
    out.mutable_hash()->set_signal(static_cast<v1::Signal>(r.signal));
    out.mutable_hash()->set_raw(r.value);
    if (r.quality >= 0) out.mutable_hash()->set_quality(r.quality);
    out.set_category(r.category);
    ++by_signal[SignalName(r.signal)];
  }
  v1::BundleHeader header;
  header.set_agency(flags.agency);
  header.set_case_ref(flags.case_ref);
  header.set_contributor(flags.contributor);
  if (absl::Status s = WriteBundle(flags.out, header, records); !s.ok()) {
    return Fail("import", std::string(s.message()));
  }
  std::string counts;
  for (const auto& [signal, n] : by_signal) {
    absl::StrAppend(&counts, counts.empty() ? "" : ", ", signal, " ", n);
  }
  std::printf(
      "%s: %zu records (%s) from %s (%s); %zu invalid left out; unsigned: run "
      "`hashmatch-ingest sign`\n",
      flags.out.c_str(), records.size(), counts.c_str(), flags.file.c_str(), flags.format.c_str(),
      result.problems.size());
  return 0;
}

int RunImport(const ImportFlags& flags) {
  if (flags.agency.empty()) return Fail("import", "--agency must not be empty");
  if (flags.out.empty() == !flags.to_server) {
    return Fail("import", "give either --out BUNDLE or --to-server");
  }
  if (!flags.out.empty() && std::filesystem::exists(flags.out)) {
    return Fail("import", flags.out + " exists; not overwriting a bundle");
  }
  const ListFormat format = *ParseListFormat(flags.format);
  absl::StatusOr<ImportResult> result = ImportList(flags.file, format, flags.options);
  if (!result.ok()) {
    return Fail("import", flags.file + ": " + std::string(result.status().message()));
  }
  for (std::size_t i = 0; i < result->problems.size() && i < kProblemsShown; ++i) {
    const ImportProblem& p = result->problems[i];
    std::fprintf(stderr, "%s: %s: %s\n", flags.file.c_str(), p.where.c_str(), p.reason.c_str());
  }
  if (result->problems.size() > kProblemsShown) {
    std::fprintf(stderr, "%s: ... and %zu more problems\n", flags.file.c_str(),
                 result->problems.size() - kProblemsShown);
  }
  for (const std::string& note : result->notes) {
    std::fprintf(stderr, "%s: %s\n", flags.file.c_str(), note.c_str());
  }
  if (!result->problems.empty() && !flags.skip_invalid) {
    std::fprintf(stderr,
                 "hashmatch-ingest import: nothing written: %zu invalid lines or records (fix "
                 "them, or give --skip-invalid to leave them out)\n",
                 result->problems.size());
    return 1;
  }
  if (result->records.empty()) {
    std::fprintf(stderr, "hashmatch-ingest import: %s holds no descriptors to import\n",
                 flags.file.c_str());
    return 1;
  }
  return flags.to_server ? SendToServer(flags, result->records) : WriteImportBundle(flags, *result);
}

// Feeds every record of a bundle, or of the server's list, to `writer`.
absl::Status ExportFromBundle(const std::string& path, ListWriter& writer, std::int64_t* count) {
  HM_ASSIGN_OR_RETURN(Bundle bundle, ReadBundle(path));
  for (const v1::BundleRecord& r : bundle.records) {
    const v1::HashValue& h = r.hash();
    *count += writer.Write({static_cast<Signal>(h.signal()), h.raw(),
                            h.has_quality() ? h.quality() : -1, r.category()})
                  ? 1
                  : 0;
  }
  return absl::OkStatus();
}

absl::Status ExportFromServer(const ExportFlags& flags, ListWriter& writer, std::int64_t* count) {
  HM_ASSIGN_OR_RETURN(const cli::Connection connection, cli::Connection::Open(flags.connect));
  v1::ListDescriptorsRequest request;
  request.set_status(flags.status == "candidate"  ? v1::DESCRIPTOR_STATUS_CANDIDATE
                     : flags.status == "verified" ? v1::DESCRIPTOR_STATUS_VERIFIED
                     : flags.status == "rejected" ? v1::DESCRIPTOR_STATUS_REJECTED
                                                  : v1::DESCRIPTOR_STATUS_RETRACTED);
  request.set_category(flags.category);
  request.set_page_size(10'000);
  auto stub = v1::IngestService::NewStub(connection.channel());
  do {
    v1::ListDescriptorsResponse page;
    const grpc::Status status =
        connection.Call(*stub, &v1::IngestService::Stub::ListDescriptors, request, &page, 120);
    if (!status.ok()) return absl::UnavailableError(DescribeRpcError(status));
    for (const v1::Descriptor& d : page.descriptors()) {
      *count += writer.Write({static_cast<Signal>(d.hash().signal()), d.hash().raw(),
                              d.hash().has_quality() ? d.hash().quality() : -1, d.category()})
                    ? 1
                    : 0;
    }
    request.set_after_id(page.next_after_id());
  } while (request.after_id() != 0);
  return absl::OkStatus();
}

// Exit 0 written, 2 on error. What the format cannot carry is counted on stderr.
int RunExport(const ExportFlags& flags) {
  std::unique_ptr<ListWriter> writer;
  std::int64_t count = 0;
  const auto export_to = [&](std::FILE* out) {
    writer = MakeListWriter(*ParseListFormat(flags.format), out);
    HM_RETURN_IF_ERROR(flags.from_bundle.empty()
                           ? ExportFromServer(flags, *writer, &count)
                           : ExportFromBundle(flags.from_bundle, *writer, &count));
    return writer->Finish();
  };
  // A file appears whole or not at all (an interrupted export leaves no half list behind).
  const absl::Status status = flags.out.empty() || flags.out == "-"
                                  ? export_to(stdout)
                                  : sys::WriteFileAtomicWith(flags.out, 0644, export_to);
  if (!status.ok()) return Fail("export", std::string(status.message()));
  for (const std::string& line : writer->Skipped()) {
    std::fprintf(stderr, "hashmatch-ingest export: %s\n", line.c_str());
  }
  std::fprintf(stderr, "hashmatch-ingest export: %lld records written (%s)\n",
               static_cast<long long>(count), flags.format.c_str());
  return 0;
}

const std::vector<std::string> kFormats = {"te-csv", "hma-csv", "digest-list", "vics-json"};
constexpr const char* kFormatHelp =
    "te-csv: `threatexchange dataset -P --csv` (signal_type,signal_str,collab,category,tags; "
    "pdq, video_md5, video_sha256; NEGATIVE_CLASS rows skipped). hma-csv: HMA simple.HASH_PDQ.te "
    "rows (pdq,indicator_id,descriptor_id,added_on,labels). digest-list: one MD5/SHA-1/SHA-256 "
    "hex per line, '#' comments. vics-json: Project VIC VICS 2.0 #Media (MD5, SHA1, PhotoDNA, "
    "Category)";

}  // namespace

void AddListCommands(CLI::App& app, int* exit_code) {
  auto in = std::make_shared<ImportFlags>();
  CLI::App* import_cmd = app.add_subcommand(
      "import",
      "Convert a hash list in an exchange format into an unsigned descriptor bundle (then "
      "`sign` and `push` it), or with --to-server add it straight to hashmatchd. Every invalid "
      "line or record is reported with its line number or "
      "JSON path and the reason; then nothing is written unless --skip-invalid. Repeated values "
      "are kept once. Exit 0 written, 1 invalid input or nothing to import, 2 error.");
  import_cmd->add_option("FILE", in->file, "The list")->required()->check(CLI::ExistingFile);
  import_cmd->add_option("--format", in->format, kFormatHelp)
      ->required()
      ->check(CLI::IsMember(kFormats));
  import_cmd->add_option("--out", in->out, "The bundle to write (must not exist)");
  import_cmd->add_flag("--to-server", in->to_server,
                       "Instead of a bundle, add the records straight to hashmatchd with this "
                       "API key (AddDescriptors, batches of 10 000; police: VERIFIED, ict: "
                       "CANDIDATE)");
  import_cmd->add_option("--agency", in->agency, "Contributing agency (provenance)")->required();
  import_cmd->add_option("--category", in->options.category,
                         "Category of every record (default: the file's: te-csv tags, hma-csv "
                         "labels, VICS Category number); required for digest-list");
  import_cmd->add_option("--case-ref", in->case_ref, "Case reference (police-only data)");
  import_cmd->add_option("--contributor", in->contributor, "Who made the list");
  import_cmd->add_flag("--skip-invalid", in->skip_invalid,
                       "Write the valid records and leave out (and report) the invalid ones");
  import_cmd->add_flag("--keep-non-pertinent", in->options.keep_non_pertinent,
                       "vics-json: keep records of Category 0 (non-pertinent), skipped by default");
  AddConnectFlags(import_cmd, &in->connect, "police");
  import_cmd->callback([in, exit_code] { *exit_code = RunImport(*in); });

  auto ex = std::make_shared<ExportFlags>();
  CLI::App* exp = app.add_subcommand(
      "export",
      "Write the server's descriptors (ict or police key; by status and category) or a "
      "bundle's records in an exchange format. Records a format cannot carry (e.g. digests in "
      "a PDQ CSV) are counted on stderr, not written. Exit 0 written, 2 error.");
  exp->add_option("--format", ex->format, kFormatHelp)->required()->check(CLI::IsMember(kFormats));
  exp->add_option("--out", ex->out, "File to write (replaced atomically; default: stdout)");
  exp->add_option("--from-bundle", ex->from_bundle, "Export this bundle's records instead")
      ->check(CLI::ExistingFile);
  exp->add_option("--status", ex->status, "Server descriptors with this status")
      ->capture_default_str()
      ->check(CLI::IsMember({"candidate", "verified", "rejected", "retracted"}));
  exp->add_option("--category", ex->category, "Only this category (server export)");
  AddConnectFlags(exp, &ex->connect, "police");
  exp->callback([ex, exit_code] { *exit_code = RunExport(*ex); });
}

}  // namespace hashmatch::ingest

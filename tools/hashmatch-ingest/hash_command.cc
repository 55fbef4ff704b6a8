// hashmatch-ingest hash: local files → an unsigned descriptor bundle, offline and resumable.
//
// Resuming: hashed files are listed in BUNDLE.sources (local only: paths never enter the bundle)
// and their records appended to BUNDLE.partial as they are done; a rerun skips listed files,
// continues the journal, and the final bundle is rewritten from the old bundle, the journal and
// the new files, duplicates dropped. Records reach the journal before their paths reach the
// list, so a crash can only cause files to be hashed twice, never lost.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"
#include "engine/describe/describe.h"
#include "engine/sys/sys.h"
#include "tools/cli/client.h"
#include "tools/hashmatch-ingest/commands.h"

namespace hashmatch::ingest {

using bundle::AppendDelimited;
using bundle::Bundle;
using bundle::kMaxCategoryBytes;
using bundle::kMaxVpdqBytes;
using bundle::ParseJournal;
using bundle::ReadBundle;
using bundle::WriteBundle;
using sys::DefaultThreads;
using sys::ListInputFiles;
using sys::ParallelOrdered;

namespace {

namespace v1 = ::hashmatch::v1;
using Clock = std::chrono::steady_clock;

struct HashFlags {
  std::vector<std::string> paths;
  std::string out, agency, category, case_ref, contributor;
  int threads = DefaultThreads();
  describe::DescribeOptions describe;
};

// A file's records, one per descriptor value of engine/describe (Values): an image's PDQ +
// quality, a video's VPDQ value (every sampled frame: PDQ, quality, timestamp), then the three
// digests.
absl::StatusOr<std::vector<v1::BundleRecord>> FileRecords(describe::Describer& describer,
                                                          const std::string& path,
                                                          const HashFlags& flags) {
  HM_ASSIGN_OR_RETURN(const describe::Descriptors d, describer.DescribeFile(path));
  if (const auto* video = std::get_if<describe::VideoDescriptors>(&d);
      video != nullptr && video->frames.empty()) {
    return absl::InvalidArgumentError("video: no frame was sampled");
  }
  std::vector<v1::BundleRecord> records;
  for (describe::DescriptorValue& v : describe::Values(d)) {
    if (v.signal == Signal::kVpdq && v.value.size() > kMaxVpdqBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("video: ", (v.value.size() - 1) / kVpdqFrameBytes,
                       " sampled frames; a VPDQ descriptor holds at most ",
                       kMaxVpdqBytes / kVpdqFrameBytes, " (raise --seconds-per-hash)"));
    }
    v1::BundleRecord& r = records.emplace_back();
    r.mutable_hash()->set_signal(static_cast<v1::Signal>(v.signal));
    r.mutable_hash()->set_raw(std::move(v.value));
    if (v.quality >= 0) r.mutable_hash()->set_quality(v.quality);
    r.set_category(flags.category);
  }
  return records;
}

std::vector<v1::BundleRecord> ReadJournal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return ParseJournal(
      std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()));
}

void AppendJournal(std::FILE* journal, const v1::BundleRecord& record) {
  std::string bytes;
  AppendDelimited(record, &bytes);
  std::fwrite(bytes.data(), 1, bytes.size(), journal);
}

// Progress on stderr: a redrawn line on a terminal, a plain line every 10 s otherwise.
class Progress {
 public:
  explicit Progress(std::size_t total) : total_(total), tty_(isatty(2) != 0) {}
  void Update(std::size_t done, bool last = false) {
    const auto now = Clock::now();
    if (!last && now - shown_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::seconds(10)))
      return;
    shown_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    std::fprintf(stderr, "%shashed %zu/%zu files  %.1f files/s  ETA %d:%02d%s", tty_ ? "\r" : "",
                 done, total_, rate, static_cast<int>(eta) / 60, static_cast<int>(eta) % 60,
                 tty_ && !last ? "" : "\n");
  }

 private:
  std::size_t total_;
  bool tty_;
  Clock::time_point start_ = Clock::now(), shown_{};
};

// The name a file is listed under in BUNDLE.sources: the same for any spelling of its path.
std::string SourceName(const std::string& path) {
  return std::filesystem::absolute(path).lexically_normal().string();
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

int RunHash(const HashFlags& flags) {
  // Checked before any work: every record carries them.
  if (flags.agency.empty() || flags.category.empty() || flags.category.size() > kMaxCategoryBytes) {
    std::fprintf(stderr,
                 "hashmatch-ingest hash: --agency must be set and --category be 1..%zu "
                 "bytes\n",
                 kMaxCategoryBytes);
    return 2;
  }
  const std::string sources_path = flags.out + ".sources", journal_path = flags.out + ".partial";
  v1::BundleHeader header;
  header.set_agency(flags.agency);
  header.set_case_ref(flags.case_ref);
  header.set_contributor(flags.contributor);
  std::vector<v1::BundleRecord> records;
  if (std::filesystem::exists(flags.out)) {
    absl::StatusOr<Bundle> old = ReadBundle(flags.out);
    if (!old.ok()) {
      std::fprintf(stderr, "hashmatch-ingest hash: %s\n",
                   std::string(old.status().message()).c_str());
      return 2;
    }
    if (old->header.agency() != flags.agency || old->header.case_ref() != flags.case_ref) {
      std::fprintf(stderr,
                   "hashmatch-ingest hash: %s was made for another agency or case reference; "
                   "give the same --agency/--case-ref or another --out\n",
                   flags.out.c_str());
      return 2;
    }
    if (old->signature) {
      std::fprintf(stderr,
                   "hashmatch-ingest hash: %s was signed; adding files drops the "
                   "signature (sign it again)\n",
                   flags.out.c_str());
    }
    records = std::move(old->records);
  }

  std::set<std::string> done;
  {
    std::ifstream in(sources_path);
    for (std::string line; std::getline(in, line);) done.insert(line);
  }
  const absl::StatusOr<std::vector<std::string>> files = ListInputFiles(flags.paths);
  if (!files.ok()) {
    std::fprintf(stderr, "hashmatch-ingest hash: %s\n",
                 std::string(files.status().message()).c_str());
    return 2;
  }
  std::vector<std::string> todo, todo_names;
  for (const std::string& f : *files) {
    std::string name = SourceName(f);
    if (done.count(name)) continue;
    todo.push_back(f);
    todo_names.push_back(std::move(name));
  }
  std::fprintf(stderr, "%zu files: %zu to hash, %zu already in %s\n", files->size(), todo.size(),
               files->size() - todo.size(), flags.out.c_str());

  const std::unique_ptr<std::FILE, FileCloser> journal_file(std::fopen(journal_path.c_str(), "ab"));
  const std::unique_ptr<std::FILE, FileCloser> sources_file(std::fopen(sources_path.c_str(), "a"));
  std::FILE* journal = journal_file.get();
  std::FILE* sources = sources_file.get();
  if (journal == nullptr || sources == nullptr) {
    std::fprintf(stderr, "hashmatch-ingest hash: cannot write %s or %s\n", journal_path.c_str(),
                 sources_path.c_str());
    return 2;
  }
  std::vector<std::unique_ptr<describe::Describer>> describers;
  for (int t = 0; t < flags.threads; ++t) {
    describers.push_back(std::make_unique<describe::Describer>(flags.describe));
  }
  std::vector<absl::StatusOr<std::vector<v1::BundleRecord>>> results(
      todo.size(), absl::UnknownError("not hashed"));
  Progress progress(todo.size());
  std::vector<std::string> pending_sources;
  std::size_t failed = 0, finished = 0;
  const auto flush = [&] {
    // Records first (fsync), then the paths that say they are done.
    std::fflush(journal);
    fsync(fileno(journal));
    for (const std::string& p : pending_sources) std::fprintf(sources, "%s\n", p.c_str());
    std::fflush(sources);
    pending_sources.clear();
  };
  ParallelOrdered(
      todo.size(), flags.threads,
      [&](int thread, std::size_t i) {
        results[i] = FileRecords(*describers[thread], todo[i], flags);
      },
      [&](std::size_t i) {
        if (results[i].ok()) {
          for (const v1::BundleRecord& r : *results[i]) AppendJournal(journal, r);
          pending_sources.push_back(todo_names[i]);
        } else {
          ++failed;
          std::fprintf(stderr, "%s%s: %s\n", isatty(2) ? "\r" : "", todo[i].c_str(),
                       std::string(results[i].status().message()).c_str());
        }
        results[i] = absl::UnknownError("emitted");  // free the descriptors
        if (pending_sources.size() >= 256) flush();
        progress.Update(++finished);
      });
  flush();
  progress.Update(finished, true);

  for (v1::BundleRecord& r : ReadJournal(journal_path)) records.push_back(std::move(r));
  // One record per (signal, value): a file hashed twice, or two copies of one image.
  std::set<std::pair<int, std::string>> seen;
  std::vector<v1::BundleRecord> unique;
  for (v1::BundleRecord& r : records) {
    if (seen.insert({r.hash().signal(), r.hash().raw()}).second) unique.push_back(std::move(r));
  }
  if (absl::Status s = WriteBundle(flags.out, header, unique); !s.ok()) {
    std::fprintf(stderr, "hashmatch-ingest hash: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::filesystem::remove(journal_path);
  std::printf(
      "%s: %zu records (%zu files hashed now, %zu skipped as already done, %zu failed); "
      "unsigned: run `hashmatch-ingest sign`\n",
      flags.out.c_str(), unique.size(), todo.size() - failed, files->size() - todo.size(), failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace

void AddHashCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<HashFlags>();
  CLI::App* hash = app.add_subcommand(
      "hash",
      "Hash image and video files and folders here, offline, into a descriptor bundle (per "
      "image: PDQ + MD5, SHA-1, SHA-256; per video (MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV): "
      "the digests and one VPDQ descriptor: the PDQ, quality and timestamp of a frame sampled "
      "every --seconds-per-hash, as Meta's vPDQ samples). Nothing leaves this machine but the "
      "bundle, "
      "which holds descriptors "
      "only. Resumable: a rerun with the same --out skips files already hashed (listed in "
      "OUT.sources, which stays here: it holds paths). Exit 0 all hashed, 1 some files failed "
      "(reported with the reason; the bundle holds the rest), 2 error.");
  hash->add_option("PATH", flags->paths, "Files or folders (recursively)")->required();
  hash->add_option("--out", flags->out, "The bundle to write (or extend)")->required();
  hash->add_option("--agency", flags->agency, "Contributing agency")->required();
  hash->add_option("--category", flags->category, "Category of every descriptor, e.g. A")
      ->required();
  hash->add_option("--case-ref", flags->case_ref, "Case reference (police only; never logged)");
  hash->add_option("--contributor", flags->contributor, "Who hashed the files");
  cli::AddDescribeFlags(hash, &flags->describe, &flags->threads);
  hash->callback([=] { *exit_code = RunHash(*flags); });
}

}  // namespace hashmatch::ingest

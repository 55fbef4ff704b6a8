// `hashmatch hash`: descriptors of local files, computed here; nothing is sent anywhere.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/describe/describe.h"
#include "engine/sys/sys.h"
#include "tools/cli/client.h"
#include "tools/hashmatch/commands.h"

namespace hashmatch::client {

using sys::DefaultThreads;
using sys::ListInputFiles;
using sys::ParallelOrdered;

namespace {

struct HashFlags {
  std::vector<std::string> paths;
  std::string format = "tsv";
  int threads = DefaultThreads();
  describe::DescribeOptions describe;  // with --dihedral
};

std::string FormatTsv(const std::string& path, const describe::ImageDescriptors& d) {
  std::string line =
      absl::StrCat(path, "\t", d.pdq.hash.ToHex(), "\t", d.pdq.quality, "\t", d.digests.md5.ToHex(),
                   "\t", d.digests.sha1.ToHex(), "\t", d.digests.sha256.ToHex());
  if (d.dihedral) {
    for (std::size_t k = 1; k < d.dihedral->hashes.size(); ++k) {
      absl::StrAppend(&line, "\t", d.dihedral->hashes[k].ToHex());
    }
  }
  return line + "\n";
}

nlohmann::json ImageJson(const std::string& path, const describe::ImageDescriptors& d) {
  nlohmann::json j = {{"path", path},
                      {"format", media::FormatName(d.format)},
                      {"width", d.width},
                      {"height", d.height},
                      {"pdq", d.pdq.hash.ToHex()},
                      {"quality", d.pdq.quality},
                      {"md5", d.digests.md5.ToHex()},
                      {"sha1", d.digests.sha1.ToHex()},
                      {"sha256", d.digests.sha256.ToHex()}};
  if (d.dihedral) {
    nlohmann::json& dihedral = j["dihedral"] = nlohmann::json::object();
    for (std::size_t k = 0; k < d.dihedral->hashes.size(); ++k) {
      dihedral[hash::kDihedralNames[k]] = d.dihedral->hashes[k].ToHex();
    }
  }
  return j;
}

// One line per sampled frame: path, frame number, timestamp, quality, PDQ.
std::string FormatVideo(const std::string& path, const describe::VideoDescriptors& d, bool json) {
  std::string out;
  for (const hash::VpdqFrame& f : d.frames) {
    if (json) {
      const nlohmann::json j = {{"path", path},
                                {"frame", f.number},
                                {"timestamp", std::round(f.timestamp_seconds * 1000) / 1000},
                                {"quality", f.pdq.quality},
                                {"pdq", f.pdq.hash.ToHex()},
                                {"container", media::ContainerName(d.info.container)},
                                {"codec", d.info.codec},
                                {"width", d.info.width},
                                {"height", d.info.height},
                                {"fps", d.info.frame_rate}};
      absl::StrAppend(&out, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "\n");
    } else {
      absl::StrAppend(&out, path, "\t", f.number, "\t",
                      absl::StrFormat("%.3f", f.timestamp_seconds), "\t", f.pdq.quality, "\t",
                      f.pdq.hash.ToHex(), "\n");
    }
  }
  return out;
}

// An image's line, or a video's lines (engine/describe tells which).
absl::StatusOr<std::string> HashFile(describe::Describer& describer, const std::string& path,
                                     const HashFlags& flags) {
  HM_ASSIGN_OR_RETURN(const describe::Descriptors d, describer.DescribeFile(path));
  const bool json = flags.format == "json";
  if (const auto* video = std::get_if<describe::VideoDescriptors>(&d)) {
    return FormatVideo(path, *video, json);
  }
  const auto& image = std::get<describe::ImageDescriptors>(d);
  if (!json) return FormatTsv(path, image);
  // Paths that are not UTF-8 are printed with U+FFFD rather than failing the line.
  return ImageJson(path, image).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         "\n";
}

int RunHash(const HashFlags& flags) {
  absl::StatusOr<std::vector<std::string>> files = ListInputFiles(flags.paths);
  if (!files.ok()) {
    std::fprintf(stderr, "hashmatch hash: %s\n", std::string(files.status().message()).c_str());
    return 2;
  }
  std::vector<std::unique_ptr<describe::Describer>> describers;
  for (int t = 0; t < flags.threads; ++t) {
    describers.push_back(std::make_unique<describe::Describer>(flags.describe));
  }
  std::vector<std::string> lines(files->size());
  std::vector<absl::Status> errors(files->size());
  int failed = 0;
  ParallelOrdered(
      files->size(), flags.threads,
      [&](int thread, std::size_t i) {
        absl::StatusOr<std::string> d = HashFile(*describers[thread], (*files)[i], flags);
        if (!d.ok()) {
          errors[i] = d.status();
        } else {
          lines[i] = *std::move(d);
        }
      },
      [&](std::size_t i) {
        if (!errors[i].ok()) {
          ++failed;
          const std::string message(errors[i].message());
          // Messages from reading already start with the path.
          const bool has_path = message.rfind((*files)[i] + ":", 0) == 0;
          std::fprintf(stderr, "hashmatch hash: %s%s%s\n", has_path ? "" : (*files)[i].c_str(),
                       has_path ? "" : ": ", message.c_str());
        } else {
          std::fputs(lines[i].c_str(), stdout);
        }
        lines[i].clear();
        lines[i].shrink_to_fit();
      });
  std::fflush(stdout);
  if (failed > 0) {
    std::fprintf(stderr, "hashmatch hash: %d of %zu files failed\n", failed, files->size());
    return 1;
  }
  return 0;
}

}  // namespace

void AddHashCommand(CLI::App& app, int* exit_code) {
  auto flags = std::make_shared<HashFlags>();
  CLI::App* cmd = app.add_subcommand(
      "hash",
      "Compute descriptors of local image and video files: PDQ hash + quality (identical to "
      "Meta's pdq-photo-hasher) and the MD5, SHA-1 and SHA-256 of the file bytes; for videos "
      "(MP4/MOV, Matroska/WebM, AVI, MPEG-TS, FLV), the PDQ of one frame per "
      "--seconds-per-hash as Meta's vPDQ samples them. Nothing leaves this machine.\n\n"
      "TSV output, one line per image: path, pdq, quality, md5, sha1, sha256 (with --dihedral "
      "also rot90, rot180, rot270, flipx, flipy, flipp, flipm); one line per sampled video "
      "frame: path, frame number, timestamp (s), quality, pdq.\n"
      "JSON output: one object per line with the same fields (images also format, width and "
      "height).\n"
      "A file that fails is reported on stderr and the rest go on; the exit status is 0 when "
      "every file hashed, 1 when any failed, 2 on a usage error.");
  cmd->add_option("paths", flags->paths, "Image files or folders (searched recursively)")
      ->required();
  cmd->add_flag("--dihedral", flags->describe.dihedral,
                "Also print the hashes of the 7 rotations/mirrors (as pdq-photo-hasher "
                "--pdqdih-across: these come from a path without the 64x64 shortcut)");
  cmd->add_option("--format", flags->format, "Output format")
      ->check(CLI::IsMember({"tsv", "json"}))
      ->capture_default_str();
  cli::AddDescribeFlags(cmd, &flags->describe, &flags->threads);
  cmd->callback([flags, exit_code] { *exit_code = RunHash(*flags); });
}

}  // namespace hashmatch::client

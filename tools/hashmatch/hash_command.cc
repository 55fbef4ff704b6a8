// `hashmatch hash`: descriptors of local files, computed here; nothing is sent anywhere.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tools/common/local_hash.h"
#include "tools/hashmatch/commands.h"

namespace hashmatch::tools {
namespace {

struct HashFlags {
  std::vector<std::string> paths;
  bool dihedral = false;
  std::string format = "tsv";
  int threads = DefaultThreads();
  media::ImageLimits limits;
};

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string FormatTsv(const std::string& path, const ImageDescriptors& d) {
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

std::string FormatJson(const std::string& path, const ImageDescriptors& d) {
  std::string line = absl::StrCat(
      "{\"path\":", JsonString(path), ",\"format\":\"", media::FormatName(d.format),
      "\",\"width\":", d.width, ",\"height\":", d.height, ",\"pdq\":\"", d.pdq.hash.ToHex(),
      "\",\"quality\":", d.pdq.quality, ",\"md5\":\"", d.digests.md5.ToHex(), "\",\"sha1\":\"",
      d.digests.sha1.ToHex(), "\",\"sha256\":\"", d.digests.sha256.ToHex(), "\"");
  if (d.dihedral) {
    line += ",\"dihedral\":{";
    for (std::size_t k = 0; k < d.dihedral->hashes.size(); ++k) {
      absl::StrAppend(&line, k ? "," : "", "\"", hash::kDihedralNames[k], "\":\"",
                      d.dihedral->hashes[k].ToHex(), "\"");
    }
    line += "}";
  }
  return line + "}\n";
}

int RunHash(const HashFlags& flags) {
  absl::StatusOr<std::vector<std::string>> files = ListInputFiles(flags.paths);
  if (!files.ok()) {
    std::fprintf(stderr, "hashmatch hash: %s\n", std::string(files.status().message()).c_str());
    return 2;
  }
  std::vector<std::unique_ptr<LocalHasher>> hashers;
  for (int t = 0; t < flags.threads; ++t) {
    hashers.push_back(std::make_unique<LocalHasher>(flags.limits));
  }
  std::vector<std::string> lines(files->size());
  std::vector<absl::Status> errors(files->size());
  int failed = 0;
  ParallelOrdered(
      files->size(), flags.threads,
      [&](int thread, std::size_t i) {
        absl::StatusOr<ImageDescriptors> d =
            hashers[thread]->HashImageFile((*files)[i], flags.dihedral);
        if (!d.ok()) {
          errors[i] = d.status();
        } else {
          lines[i] =
              flags.format == "json" ? FormatJson((*files)[i], *d) : FormatTsv((*files)[i], *d);
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
      "Compute descriptors of local image files: PDQ hash + quality (identical to Meta's "
      "pdq-photo-hasher) and the MD5, SHA-1 and SHA-256 of the file bytes. Nothing leaves this "
      "machine.\n\n"
      "TSV output, one line per file: path, pdq, quality, md5, sha1, sha256 (with --dihedral "
      "also rot90, rot180, rot270, flipx, flipy, flipp, flipm).\n"
      "JSON output: one object per line with the same fields plus format, width and height.\n"
      "A file that fails is reported on stderr and the rest go on; the exit status is 0 when "
      "every file hashed, 1 when any failed, 2 on a usage error.");
  cmd->add_option("paths", flags->paths, "Image files or folders (searched recursively)")
      ->required();
  cmd->add_flag("--dihedral", flags->dihedral,
                "Also print the hashes of the 7 rotations/mirrors (as pdq-photo-hasher "
                "--pdqdih-across: these come from a path without the 64x64 shortcut)");
  cmd->add_option("--format", flags->format, "Output format")
      ->check(CLI::IsMember({"tsv", "json"}))
      ->capture_default_str();
  cmd->add_option("--threads", flags->threads, "Files hashed in parallel (default: all cores)")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-image-bytes", flags->limits.max_bytes, "Largest file accepted, bytes")
      ->capture_default_str();
  cmd->add_option("--max-pixels", flags->limits.max_pixels, "Largest width*height accepted")
      ->capture_default_str();
  cmd->add_option("--max-side", flags->limits.max_side, "Largest width or height accepted")
      ->capture_default_str();
  cmd->callback([flags, exit_code] { *exit_code = RunHash(*flags); });
}

}  // namespace hashmatch::tools

// te-csv, hma-csv and digest-list import (formats.h), and CSV quoting for the writers.
#include <vector>

#include "tools/hashmatch-ingest/internal/import.h"

namespace hashmatch::ingest {
namespace {

// One CSV line (RFC 4180 quoting, no embedded line breaks) → fields.
absl::StatusOr<std::vector<std::string>> SplitCsv(std::string_view line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        fields.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        fields.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  if (quoted) return absl::InvalidArgumentError("unterminated quoted field");
  return fields;
}

// The category of a te-csv/hma-csv row: --category, else its one tag.
absl::StatusOr<std::string> CategoryFromTags(const std::string& tags, const ImportOptions& o,
                                             const char* column) {
  if (!o.category.empty()) return o.category;
  const std::string tag = Trim(tags);
  if (tag.empty() || tag.find(' ') != tag.npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        column, ": \"", tags, "\" is not one tag to use as the category; give --category"));
  }
  return tag;
}

// Calls row(where, line number, fields) for each non-blank CSV line of `columns` fields;
// malformed lines are problems.
template <typename Row>
void ForEachCsvRow(std::istream& in, Collector& out, const char* format, const char* columns,
                   Row row) {
  std::string line;
  for (std::int64_t n = 1; std::getline(in, line); ++n) {
    const std::string where = absl::StrCat("line ", n);
    if (Trim(line).empty()) continue;
    absl::StatusOr<std::vector<std::string>> f = SplitCsv(line);
    if (!f.ok()) {
      out.Problem(where, std::string(f.status().message()));
      continue;
    }
    const auto want =
        static_cast<std::size_t>(1 + std::count(columns, columns + strlen(columns), ','));
    if (f->size() != want) {
      out.Problem(where,
                  absl::StrCat(f->size(), " fields; ", format, " has ", want, ": ", columns));
      continue;
    }
    row(where, n, *f);
  }
}

// One hash row: the value from `hex` (named `hex_field` in errors), the category from `tags`.
void AddRow(Collector& out, const std::string& where, Signal signal, const std::string& hex,
            const char* hex_field, const std::string& tags, const char* tags_field,
            const ImportOptions& o) {
  absl::StatusOr<std::string> value = HexValue(Trim(hex), signal);
  if (!value.ok()) {
    out.Problem(where, absl::StrCat(hex_field, ": ", std::string(value.status().message())));
    return;
  }
  absl::StatusOr<std::string> category = CategoryFromTags(tags, o, tags_field);
  if (!category.ok()) {
    out.Problem(where, std::string(category.status().message()));
    return;
  }
  // ThreatExchange and HMA PDQ signals carry no quality: they exist only for quality >= 50.
  out.Add(where,
          {signal, *std::move(value), signal == Signal::kPdq ? 100 : -1, *std::move(category)});
}

}  // namespace

// te-csv: `threatexchange dataset -P --csv`: signal_type,signal_str,collab,category,tags.
void ImportTeCsv(std::istream& in, const ImportOptions& o, Collector& out, ImportResult& r) {
  std::int64_t negative = 0, other_types = 0;
  ForEachCsvRow(in, out, "te-csv", "signal_type,signal_str,collab,category,tags",
                [&](const std::string& where, std::int64_t n, const std::vector<std::string>& f) {
                  if (n == 1 && f[0] == "signal_type") return;  // the header
                  const std::string& type = f[0];
                  const Signal signal = type == "pdq"            ? Signal::kPdq
                                        : type == "video_md5"    ? Signal::kMd5
                                        : type == "video_sha256" ? Signal::kSha256
                                                                 : Signal::kVpdq;
                  if (signal == Signal::kVpdq) {
                    ++other_types;  // url, raw_text, vpdq...: not hashes this server matches
                  } else if (f[3] == "NEGATIVE_CLASS") {
                    ++negative;
                  } else {
                    AddRow(out, where, signal, f[1], "signal_str", f[4], "tags", o);
                  }
                });
  if (negative > 0) {
    r.notes.push_back(absl::StrCat(negative,
                                   " NEGATIVE_CLASS rows skipped (test data or false "
                                   "positives, never descriptors)"));
  }
  if (other_types > 0) {
    r.notes.push_back(absl::StrCat(other_types,
                                   " rows of other signal types skipped (only pdq, video_md5 "
                                   "and video_sha256 are media hashes this server matches)"));
  }
}

// hma-csv: HMA's simple.HASH_PDQ.te rows: pdq,indicator_id,descriptor_id,added_on,labels.
void ImportHmaCsv(std::istream& in, const ImportOptions& o, Collector& out) {
  ForEachCsvRow(in, out, "hma-csv", "pdq,indicator_id,descriptor_id,added_on,labels",
                [&](const std::string& where, std::int64_t, const std::vector<std::string>& f) {
                  AddRow(out, where, Signal::kPdq, f[0], "pdq", f[4], "labels", o);
                });
}

// digest-list: one MD5, SHA-1 or SHA-256 in hex per line (by length); '#' starts a comment.
void ImportDigestList(std::istream& in, const ImportOptions& o, Collector& out) {
  std::string line;
  for (std::int64_t n = 1; std::getline(in, line); ++n) {
    const std::string hex = Trim(line.substr(0, line.find('#')));
    if (hex.empty()) continue;
    const Signal signal = hex.size() == 32   ? Signal::kMd5
                          : hex.size() == 40 ? Signal::kSha1
                                             : Signal::kSha256;
    if (hex.size() != 32 && hex.size() != 40 && hex.size() != 64) {
      out.Problem(absl::StrCat("line ", n),
                  absl::StrCat(hex.size(),
                               " characters; a digest is 32 (MD5), 40 (SHA-1) or 64 (SHA-256) "
                               "hex digits"));
      continue;
    }
    absl::StatusOr<std::string> value = HexValue(hex, signal);
    if (!value.ok()) {
      out.Problem(absl::StrCat("line ", n), std::string(value.status().message()));
      continue;
    }
    out.Add(absl::StrCat("line ", n), {signal, *std::move(value), -1, o.category});
  }
}

std::string CsvField(std::string_view field) {
  if (field.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(field);
  std::string out = "\"";
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace hashmatch::ingest

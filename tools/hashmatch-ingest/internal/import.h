// tools/hashmatch-ingest/internal/import: what the importers of formats.h share: the collector
// that keeps first occurrences and problems, value and text helpers, and one entry per format.
// Internal to hashmatch-ingest. Not thread-safe (one import at a time per Collector).
#pragma once

#include <istream>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"
#include "tools/hashmatch-ingest/formats.h"

namespace hashmatch::ingest {

inline constexpr std::string_view kVicsContext =
    "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media";
// python-threatexchange marks confirmed material POSITIVE_CLASS; NEGATIVE_CLASS is test data or a
// false positive and must never become a descriptor.
inline constexpr std::string_view kPositive = "POSITIVE_CLASS";

// Keeps the first record of each (signal, value) and every problem.
class Collector {
 public:
  explicit Collector(ImportResult* result) : result_(result) {}

  void Add(const std::string& where, ListRecord record) {
    if (record.category.empty() || record.category.size() > bundle::kMaxCategoryBytes) {
      Problem(where, absl::StrCat("category \"", record.category.substr(0, 40), "\": must be 1..",
                                  bundle::kMaxCategoryBytes, " bytes"));
      return;
    }
    if (seen_.insert({record.signal, record.value}).second) {
      result_->records.push_back(std::move(record));
    } else {
      ++result_->duplicates;
    }
  }
  void Problem(std::string where, std::string reason) {
    result_->problems.push_back({std::move(where), std::move(reason)});
  }

 private:
  ImportResult* result_;
  std::set<std::pair<Signal, std::string>> seen_;
};

// `s` without surrounding white space (and a UTF-8 byte order mark at its start).
std::string Trim(std::string_view s);

// Hex of `signal`'s length, either case → raw bytes; the error says what is wrong.
[[nodiscard]] absl::StatusOr<std::string> HexValue(std::string_view hex, Signal signal);

// One importer per format: records and problems go to `out`.
void ImportTeCsv(std::istream& in, const ImportOptions& o, Collector& out, ImportResult& r);
void ImportHmaCsv(std::istream& in, const ImportOptions& o, Collector& out);
void ImportDigestList(std::istream& in, const ImportOptions& o, Collector& out);
// VICS JSON; a non-OK status is a file-level failure. Notes go to `r`.
[[nodiscard]] absl::Status ImportVicsJson(std::istream& in, const ImportOptions& o, Collector& out,
                                          ImportResult& r);

// A CSV field, quoted (RFC 4180) when it holds a comma, quote or line break.
std::string CsvField(std::string_view field);

}  // namespace hashmatch::ingest

// tools/hashmatch-ingest/formats: the hash-list exchange formats hashmatch-ingest imports and
// exports (testdata/interop/FORMATS.md): ThreatExchange dataset CSV (te-csv), HMA's PDQ CSV
// (hma-csv), plain hex digest lists (digest-list) and Project VIC VICS 2.0 JSON (vics-json).
//
// Owns reading a file into descriptor records — every rejected line or record reported with its
// line number or JSON path and the reason, never silently dropped — and writing records back.
// Files are read as a stream (VICS through a SAX parser), so memory follows the records kept,
// not the file's size.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/core.h"

namespace hashmatch::ingest {

enum class ListFormat { kTeCsv, kHmaCsv, kDigestList, kVicsJson };

// "te-csv", "hma-csv", "digest-list", "vics-json".
std::optional<ListFormat> ParseListFormat(std::string_view name);
const char* ListFormatName(ListFormat format);

struct ListRecord {
  Signal signal = Signal::kPdq;
  std::string value;  // raw bytes
  int quality = -1;   // PDQ: 0..100
  std::string category;
};

struct ImportOptions {
  // The category of every record; when empty, the file's own (te-csv tags, hma-csv labels,
  // VICS Category number as text). digest-list needs it.
  std::string category;
  // VICS Category 0 is "non-pertinent" (not CSAM) in the US/Default profiles: skipped unless set.
  bool keep_non_pertinent = false;
};

struct ImportProblem {
  std::string where;  // "line 7", "$.value[3].MD5"
  std::string reason;
};

struct ImportResult {
  std::vector<ListRecord> records;      // valid, first occurrence of each (signal, value)
  std::vector<ImportProblem> problems;  // rejected lines/records
  std::int64_t duplicates = 0;          // repeats of a value already kept
  std::vector<std::string> notes;       // what was skipped on purpose, and why
};

// Reads `path`. A non-OK status is a file-level failure (unreadable, not JSON at all, wrong VICS
// context); line- and record-level problems are in the result.
[[nodiscard]] absl::StatusOr<ImportResult> ImportList(const std::string& path, ListFormat format,
                                                      const ImportOptions& options);

// Writes records in one format. Records the format cannot carry are counted, not written.
class ListWriter {
 public:
  virtual ~ListWriter() = default;
  // false: this record cannot be written in this format (see Skipped()).
  virtual bool Write(const ListRecord& record) = 0;
  [[nodiscard]] virtual absl::Status Finish() = 0;
  // One line per kind of record that was left out, with the count and the reason.
  virtual std::vector<std::string> Skipped() const = 0;
};
std::unique_ptr<ListWriter> MakeListWriter(ListFormat format, std::FILE* out);

}  // namespace hashmatch::ingest

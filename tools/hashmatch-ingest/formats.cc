// The exchange formats (formats.h): format names, the import entry point and the helpers the
// importers share. The formats themselves: formats_csv.cc (te-csv, hma-csv, digest-list),
// formats_vics.cc (VICS JSON), formats_export.cc (the writers).
#include "tools/hashmatch-ingest/formats.h"

#include <fstream>

#include "tools/hashmatch-ingest/internal/import.h"

namespace hashmatch::ingest {

std::string Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  if (first == s.npos) return "";
  const auto last = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(first, last - first + 1));
}

// Hex of `signal`'s length, either case → raw bytes; the error says what is wrong.
absl::StatusOr<std::string> HexValue(std::string_view hex, Signal signal) {
  const std::size_t want = 2 * SignalValueBytes(signal);
  if (hex.size() != want) {
    return absl::InvalidArgumentError(
        absl::StrCat(hex.size(), " characters; ", SignalName(signal), " is ", want, " hex digits"));
  }
  absl::StatusOr<std::string> raw = DecodeHex(hex);
  if (!raw.ok()) return absl::InvalidArgumentError(std::string(raw.status().message()));
  return raw;
}

std::optional<ListFormat> ParseListFormat(std::string_view name) {
  for (const ListFormat f :
       {ListFormat::kTeCsv, ListFormat::kHmaCsv, ListFormat::kDigestList, ListFormat::kVicsJson}) {
    if (name == ListFormatName(f)) return f;
  }
  return std::nullopt;
}

const char* ListFormatName(ListFormat format) {
  switch (format) {
    case ListFormat::kTeCsv:
      return "te-csv";
    case ListFormat::kHmaCsv:
      return "hma-csv";
    case ListFormat::kDigestList:
      return "digest-list";
    case ListFormat::kVicsJson:
      return "vics-json";
  }
  return "?";
}

absl::StatusOr<ImportResult> ImportList(const std::string& path, ListFormat format,
                                        const ImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  if (format == ListFormat::kDigestList && options.category.empty()) {
    return absl::InvalidArgumentError("a digest list carries no category: give --category");
  }
  ImportResult result;
  Collector out(&result);
  switch (format) {
    case ListFormat::kTeCsv:
      ImportTeCsv(in, options, out, result);
      break;
    case ListFormat::kHmaCsv:
      ImportHmaCsv(in, options, out);
      break;
    case ListFormat::kDigestList:
      ImportDigestList(in, options, out);
      break;
    case ListFormat::kVicsJson:
      HM_RETURN_IF_ERROR(ImportVicsJson(in, options, out, result));
      break;
  }
  if (result.duplicates > 0) {
    result.notes.push_back(absl::StrCat(result.duplicates, " repeated values kept once"));
  }
  return result;
}

}  // namespace hashmatch::ingest

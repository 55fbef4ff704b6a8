#include "tools/hashmatch-ingest/formats.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"

namespace hashmatch::ingest {

using bundle::kMaxCategoryBytes;
namespace {

constexpr std::string_view kVicsContext =
    "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media";
// python-threatexchange marks confirmed material POSITIVE_CLASS; NEGATIVE_CLASS is test data or a
// false positive and must never become a descriptor.
constexpr std::string_view kPositive = "POSITIVE_CLASS";

// Keeps the first record of each (signal, value) and every problem.
class Collector {
 public:
  explicit Collector(ImportResult* result) : result_(result) {}

  void Add(const std::string& where, ListRecord record) {
    if (record.category.empty() || record.category.size() > kMaxCategoryBytes) {
      Problem(where, absl::StrCat("category \"", record.category.substr(0, 40), "\": must be 1..",
                                  kMaxCategoryBytes, " bytes"));
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

// VICS: a SAX handler that follows the path to each $.value[i] record and keeps only its hashes
// and Category, so a national file of hundreds of MB streams through.
class VicsHandler final : public nlohmann::json_sax<nlohmann::json> {
 public:
  VicsHandler(const ImportOptions& options, Collector* out) : options_(options), out_(out) {}

  absl::Status file_error;
  std::int64_t non_pertinent = 0;
  bool saw_context = false;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return Number(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return Number(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& text) override { return Number(text); }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& v) override {
    if (stack_.size() == 1 && (key_ == "@odata.context" || key_ == "odata.metadata")) {
      saw_context = true;
      const std::string_view media = "#Media";
      if (v.size() < media.size() || v.compare(v.size() - media.size(), media.size(), media)) {
        file_error = absl::InvalidArgumentError(
            absl::StrCat("$.", key_, ": \"", v,
                         "\" is not a hash set (#Media); case exports (#Cases) are not imported"));
        return false;
      }
    }
    if (InRecord()) {
      if (key_ == "MD5" || key_ == "SHA1" || key_ == "PhotoDNA" || key_ == "Category") {
        record_[key_] = v;
      }
    }
    if (InAlternativeHash()) alternative_[key_] = v;
    return true;
  }
  bool start_object(std::size_t) override {
    Push(false);
    if (InRecord()) record_.clear();
    if (InAlternativeHash()) alternative_.clear();
    return true;
  }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override {
    if (InRecord()) Record();
    if (InAlternativeHash() && alternative_["HashName"] == "PhotoDNA") {
      record_["PhotoDNA"] = alternative_["HashValue"];
    }
    return Pop();
  }
  bool start_array(std::size_t) override {
    Push(true);
    return true;
  }
  bool end_array() override { return Pop(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    file_error = absl::InvalidArgumentError(
        absl::StrCat("not valid JSON at byte ", position, ": ", e.what()));
    return false;
  }

 private:
  struct Frame {
    bool array;
    std::string key;          // the key this container is under in its parent
    std::int64_t index = -1;  // arrays: the current element
  };

  void Push(bool array) {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    stack_.push_back({array, stack_.empty() ? "" : key_});
  }
  bool Pop() {
    stack_.pop_back();
    return true;
  }
  bool Number(const std::string& text) {
    if (!stack_.empty() && stack_.back().array) ++stack_.back().index;
    if (InRecord() && key_ == "Category") record_["Category"] = text;
    return true;
  }
  // The object of one Media record: $ {value [ {record} ] }.
  bool InRecord() const {
    return stack_.size() == 3 && !stack_[2].array && stack_[1].array && stack_[1].key == "value";
  }
  bool InAlternativeHash() const {
    return stack_.size() == 5 && stack_[3].array && stack_[3].key == "AlternativeHashes" &&
           stack_[1].key == "value";
  }
  std::string Path() const { return absl::StrCat("$.value[", stack_[1].index, "]"); }

  void Record() {
    const std::string path = Path();
    std::string category = options_.category;
    const auto has = [&](const char* k) { return record_.count(k) > 0; };
    if (has("Category")) {
      const std::string& c = record_["Category"];
      const bool digits =
          !c.empty() && c.size() <= 3 && c.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || std::stoi(c) > 255) {
        out_->Problem(path + ".Category", "\"" + c + "\" is not a number 0..255");
        return;
      }
      if (c == "0" && !options_.keep_non_pertinent) {
        ++non_pertinent;
        return;
      }
      if (category.empty()) category = c;
    }
    if (category.empty()) {
      out_->Problem(path + ".Category", "missing; give --category");
      return;
    }
    if (!has("MD5")) {
      out_->Problem(path + ".MD5", "missing (every VICS Media record is keyed by its MD5)");
      return;
    }
    std::vector<ListRecord> found;
    for (const auto& [field, signal] :
         {std::pair{"MD5", Signal::kMd5}, std::pair{"SHA1", Signal::kSha1}}) {
      if (!has(field)) continue;
      absl::StatusOr<std::string> value = HexValue(Trim(record_[field]), signal);
      if (!value.ok()) {
        out_->Problem(absl::StrCat(path, ".", field), std::string(value.status().message()));
        return;
      }
      found.push_back({signal, *std::move(value), -1, category});
    }
    if (has("PhotoDNA")) {
      std::string raw;
      if (!absl::Base64Unescape(Trim(record_["PhotoDNA"]), &raw) ||
          raw.size() != SignalValueBytes(Signal::kPhotoDna)) {
        out_->Problem(path + ".PhotoDNA", "not 144 bytes in base64 (192 characters)");
        return;
      }
      found.push_back({Signal::kPhotoDna, std::move(raw), -1, category});
    }
    for (ListRecord& r : found) out_->Add(path, std::move(r));
  }

  const ImportOptions& options_;
  Collector* out_;
  std::vector<Frame> stack_;
  std::string key_;
  std::map<std::string, std::string> record_;
  std::map<std::string, std::string> alternative_;
};

}  // namespace

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
    case ListFormat::kVicsJson: {
      if (in.peek() == 0xEF) in.ignore(3);  // a UTF-8 byte order mark
      VicsHandler handler(options, &out);
      nlohmann::json::sax_parse(in, &handler);
      if (!handler.file_error.ok()) return handler.file_error;
      if (!handler.saw_context) {
        return absl::InvalidArgumentError(
            "$: no \"@odata.context\" (or \"odata.metadata\"): not a VICS file");
      }
      if (handler.non_pertinent > 0) {
        result.notes.push_back(absl::StrCat(
            handler.non_pertinent,
            " records of Category 0 (non-pertinent) skipped; --keep-non-pertinent keeps them"));
      }
      break;
    }
  }
  if (result.duplicates > 0) {
    result.notes.push_back(absl::StrCat(result.duplicates, " repeated values kept once"));
  }
  return result;
}

namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Writers share the count of records each format cannot carry.
class CountingWriter : public ListWriter {
 public:
  explicit CountingWriter(std::FILE* out) : out_(out) {}
  std::vector<std::string> Skipped() const override {
    std::vector<std::string> lines;
    for (const auto& [signal, count] : skipped_) {
      lines.push_back(absl::StrCat(count, " ", SignalName(signal),
                                   " descriptors not written: ", Reason(signal)));
    }
    return lines;
  }
  absl::Status Finish() override {
    return std::fflush(out_) == 0 && !std::ferror(out_)
               ? absl::OkStatus()
               : absl::DataLossError("writing the export failed");
  }

 protected:
  virtual std::string Reason(Signal signal) const = 0;
  bool Skip(Signal signal) {
    ++skipped_[signal];
    return false;
  }
  std::FILE* out_;

 private:
  std::map<Signal, std::int64_t> skipped_;
};

class TeCsvWriter final : public CountingWriter {
 public:
  using CountingWriter::CountingWriter;
  bool Write(const ListRecord& r) override {
    if (!header_) std::fputs("signal_type,signal_str,collab,category,tags\r\n", out_);
    header_ = true;
    if (r.signal != Signal::kPdq) return Skip(r.signal);
    std::fprintf(out_, "pdq,%s,hashmatch,%s,%s\r\n", EncodeHex(r.value).c_str(),
                 std::string(kPositive).c_str(), r.category.c_str());
    return true;
  }
  absl::Status Finish() override {
    if (!header_) std::fputs("signal_type,signal_str,collab,category,tags\r\n", out_);
    header_ = true;
    return CountingWriter::Finish();
  }

 private:
  std::string Reason(Signal) const override {
    return "te-csv carries PDQ here (its video_md5/video_sha256 are for videos); use "
           "digest-list";
  }
  bool header_ = false;
};

class HmaCsvWriter final : public CountingWriter {
 public:
  using CountingWriter::CountingWriter;
  bool Write(const ListRecord& r) override {
    if (r.signal != Signal::kPdq) return Skip(r.signal);
    ++row_;
    std::fprintf(out_, "%s,%lld,%lld,,%s\n", EncodeHex(r.value).c_str(),
                 static_cast<long long>(row_), static_cast<long long>(row_), r.category.c_str());
    return true;
  }

 private:
  std::string Reason(Signal) const override { return "hma-csv is a PDQ list; use digest-list"; }
  std::int64_t row_ = 0;
};

class DigestListWriter final : public CountingWriter {
 public:
  using CountingWriter::CountingWriter;
  bool Write(const ListRecord& r) override {
    if (r.signal != Signal::kMd5 && r.signal != Signal::kSha1 && r.signal != Signal::kSha256) {
      return Skip(r.signal);
    }
    std::fprintf(out_, "%s\n", EncodeHex(r.value).c_str());
    return true;
  }

 private:
  std::string Reason(Signal) const override {
    return "a digest list holds MD5, SHA-1 and SHA-256 only";
  }
};

// One Media record per MD5 descriptor. The store keeps no link between the MD5, SHA-1 and
// PhotoDNA of one file, and a VICS record without its MD5 key is invalid, so those are counted.
class VicsWriter final : public CountingWriter {
 public:
  using CountingWriter::CountingWriter;
  bool Write(const ListRecord& r) override {
    if (r.signal != Signal::kMd5) return Skip(r.signal);
    Begin();
    nlohmann::json media = {{"MediaID", ++media_id_}, {"MD5", Upper(EncodeHex(r.value))}};
    const bool numeric = !r.category.empty() && r.category.size() <= 3 &&
                         r.category.find_first_not_of("0123456789") == std::string::npos &&
                         std::stoi(r.category) <= 255;
    if (numeric) {
      media["Category"] = std::stoi(r.category);
    } else {
      ++non_numeric_category_;
    }
    media["IsPrecategorized"] = "false";  // a string, as real distribution files write it
    std::fprintf(out_, "%s%s", media_id_ > 1 ? "," : "", media.dump().c_str());
    return true;
  }
  absl::Status Finish() override {
    Begin();
    std::fputs("]}", out_);
    return CountingWriter::Finish();
  }
  std::vector<std::string> Skipped() const override {
    std::vector<std::string> lines = CountingWriter::Skipped();
    if (non_numeric_category_ > 0) {
      lines.push_back(absl::StrCat(non_numeric_category_,
                                   " records written without Category: their category is not a "
                                   "VICS number 0..255"));
    }
    return lines;
  }

 private:
  void Begin() {
    if (begun_) return;
    begun_ = true;
    // @odata.context first, then value, nothing else: what IPED's reader requires.
    std::fprintf(out_, "{\"@odata.context\":\"%s\",\"value\":[", std::string(kVicsContext).c_str());
  }
  std::string Reason(Signal) const override {
    return "a VICS record is keyed by its MD5, and the store keeps no link from a SHA-1 or "
           "PhotoDNA to its file's MD5";
  }
  bool begun_ = false;
  std::int64_t media_id_ = 0;
  std::int64_t non_numeric_category_ = 0;
};

}  // namespace

std::unique_ptr<ListWriter> MakeListWriter(ListFormat format, std::FILE* out) {
  switch (format) {
    case ListFormat::kTeCsv:
      return std::make_unique<TeCsvWriter>(out);
    case ListFormat::kHmaCsv:
      return std::make_unique<HmaCsvWriter>(out);
    case ListFormat::kDigestList:
      return std::make_unique<DigestListWriter>(out);
    case ListFormat::kVicsJson:
      return std::make_unique<VicsWriter>(out);
  }
  return nullptr;
}

}  // namespace hashmatch::ingest

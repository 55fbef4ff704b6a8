// VICS 2.0 JSON import (formats.h), streamed through nlohmann-json's SAX parser.
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "absl/strings/escaping.h"
#include "tools/hashmatch-ingest/internal/import.h"

namespace hashmatch::ingest {
namespace {

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

absl::Status ImportVicsJson(std::istream& in, const ImportOptions& options, Collector& out,
                            ImportResult& result) {
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
  return absl::OkStatus();
}

}  // namespace hashmatch::ingest

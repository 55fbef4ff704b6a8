// The writers of `hashmatch-ingest export` (formats.h).
#include <map>
#include <nlohmann/json.hpp>

#include "tools/hashmatch-ingest/internal/import.h"

namespace hashmatch::ingest {
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
                 std::string(kPositive).c_str(), CsvField(r.category).c_str());
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
                 static_cast<long long>(row_), static_cast<long long>(row_),
                 CsvField(r.category).c_str());
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
    std::fprintf(out_, "{\"@odata.context\":%s,\"value\":[",
                 nlohmann::json(std::string(kVicsContext)).dump().c_str());
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

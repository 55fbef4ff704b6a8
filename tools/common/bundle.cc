#include "tools/common/bundle.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tools/common/ed25519.h"

namespace hashmatch::tools {
namespace {

namespace v1 = ::hashmatch::v1;

constexpr std::string_view kMagic = "HMBNDL01";
constexpr const char* kWriter = "hashmatch-ingest 0.1.0";

Sha256 Digest(std::string_view bytes) {
  Sha256 d;
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), d.bytes.data());
  return d;
}

// Reads length-delimited messages from a buffer, tracking the offset for messages.
class DelimitedReader {
 public:
  DelimitedReader(std::string_view bytes, std::size_t offset, std::size_t max_message)
      : bytes_(bytes), offset_(offset), max_message_(max_message) {}

  bool AtEnd() const { return offset_ == bytes_.size(); }
  std::size_t offset() const { return offset_; }

  // `what` names the message in errors ("the header"), or with index >= 0 "record <index>"; the
  // name is only formatted when there is an error (this runs once per record).
  absl::Status Next(google::protobuf::MessageLite* message, std::string_view what,
                    std::int64_t index = -1) {
    const std::size_t start = offset_;
    std::uint64_t length = 0;
    for (int shift = 0;; shift += 7) {
      if (offset_ == bytes_.size())
        return Error(start, what, index, "truncated in its length prefix");
      if (shift > 28) return Error(start, what, index, "has a malformed length prefix");
      const auto byte = static_cast<std::uint8_t>(bytes_[offset_++]);
      length |= std::uint64_t{byte & 0x7fu} << shift;
      if ((byte & 0x80) == 0) break;
    }
    if (length > max_message_) {
      return Error(start, what, index,
                   absl::StrCat("is ", length, " bytes; the limit is ", max_message_));
    }
    if (length > bytes_.size() - offset_) {
      return Error(start, what, index,
                   absl::StrCat("is truncated (", length, " bytes announced, ",
                                bytes_.size() - offset_, " left)"));
    }
    if (!message->ParseFromArray(bytes_.data() + offset_, static_cast<int>(length))) {
      return Error(start, what, index, "is not a valid protobuf message");
    }
    offset_ += length;
    return absl::OkStatus();
  }

 private:
  static absl::Status Error(std::size_t at, std::string_view what, std::int64_t index,
                            const std::string& problem) {
    const std::string name =
        index >= 0 ? absl::StrCat(std::string(what), " ", index) : std::string(what);
    return absl::DataLossError(absl::StrCat("bundle: ", name, " at byte ", at, " ", problem));
  }

  std::string_view bytes_;
  std::size_t offset_;
  std::size_t max_message_;
};

}  // namespace

void AppendDelimited(const google::protobuf::MessageLite& message, std::string* out) {
  const std::string body = message.SerializeAsString();
  for (std::uint64_t n = body.size();; n >>= 7) {
    out->push_back(static_cast<char>((n & 0x7f) | (n >= 0x80 ? 0x80 : 0)));
    if (n < 0x80) break;
  }
  out->append(body);
}

std::vector<v1::BundleRecord> ParseJournal(std::string_view bytes) {
  std::vector<v1::BundleRecord> records;
  DelimitedReader reader(bytes, 0, BundleLimits().max_message_bytes);
  v1::BundleRecord record;
  while (!reader.AtEnd() && reader.Next(&record, "a journal record").ok()) {
    records.push_back(std::move(record));
  }
  return records;
}

absl::Status CheckRecord(const v1::BundleRecord& record, const std::string& where) {
  const v1::HashValue& h = record.hash();
  const auto signal = static_cast<Signal>(h.signal());
  if (h.signal() == v1::SIGNAL_UNSPECIFIED || !ParseSignal(SignalName(signal))) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".hash.signal: not set or unknown"));
  }
  if (!h.has_raw()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".hash: a bundle holds raw values"));
  }
  const std::size_t want = SignalValueBytes(signal);
  if ((want != 0 && h.raw().size() != want) || h.raw().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".hash.raw: ", h.raw().size(), " bytes, ",
                                                   SignalName(signal), " needs ", want));
  }
  if (signal == Signal::kVpdq) {
    if (absl::StatusOr<std::vector<VpdqFeature>> frames = DecodeVpdq(h.raw()); !frames.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".hash.raw: ", std::string(frames.status().message())));
    }
  }
  if (signal == Signal::kPdq && (!h.has_quality() || h.quality() < 0 || h.quality() > 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".hash.quality: a PDQ record needs a quality of 0..100"));
  }
  if (record.category().empty() || record.category().size() > kMaxCategoryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".category: must be 1..", kMaxCategoryBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Bundle> ScanBundle(std::string_view bytes, const BundleLimits& limits,
                                  const RecordVisitor& visit) {
  if (bytes.substr(0, kMagic.size()) != kMagic) {
    return absl::DataLossError("bundle: does not start with \"HMBNDL01\" (not a bundle)");
  }
  DelimitedReader reader(bytes, kMagic.size(), limits.max_message_bytes);
  Bundle bundle;
  HM_RETURN_IF_ERROR(reader.Next(&bundle.header, "the header"));
  const std::int64_t count = bundle.header.count();
  if (count < 0 || count > limits.max_records) {
    return absl::DataLossError(
        absl::StrCat("bundle: header.count ", count, " is outside 0..", limits.max_records));
  }
  if (bundle.header.agency().empty()) {
    return absl::InvalidArgumentError("bundle: header.agency is empty");
  }
  const std::size_t records_begin = reader.offset();
  v1::BundleRecord record;
  for (std::int64_t i = 0; i < count; ++i) {
    HM_RETURN_IF_ERROR(reader.Next(&record, "record", i));
    if (absl::Status s = CheckRecord(record, ""); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("bundle: record ", i, std::string(s.message())));
    }
    if (visit) HM_RETURN_IF_ERROR(visit(record, i));
  }
  const std::size_t records_end = reader.offset();
  if (Digest(bytes.substr(records_begin, records_end - records_begin)).ToHex() !=
      bundle.header.bundle_id()) {
    return absl::DataLossError(
        "bundle: header.bundle_id does not match the records (altered or damaged)");
  }
  bundle.signed_digest = Digest(bytes.substr(0, records_end));
  if (!reader.AtEnd()) {
    HM_RETURN_IF_ERROR(reader.Next(&bundle.signature.emplace(), "the signature"));
    if (!reader.AtEnd()) {
      return absl::DataLossError(absl::StrCat("bundle: ", bytes.size() - reader.offset(),
                                              " unexpected bytes after the signature at byte ",
                                              reader.offset()));
    }
  }
  return bundle;
}

absl::StatusOr<Bundle> ParseBundle(std::string_view bytes, const BundleLimits& limits) {
  std::vector<v1::BundleRecord> records;
  absl::StatusOr<Bundle> bundle =
      ScanBundle(bytes, limits, [&](const v1::BundleRecord& record, std::int64_t) {
        records.push_back(record);
        return absl::OkStatus();
      });
  if (bundle.ok()) bundle->records = std::move(records);
  return bundle;
}

absl::StatusOr<Bundle> ReadBundle(const std::string& path, const BundleLimits& limits) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (error) return absl::NotFoundError(absl::StrCat(path, ": ", error.message()));
  if (size > limits.max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat(path, ": ", size, " bytes; the limit is ", limits.max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes(size, '\0');
  if (!in.read(bytes.data(), static_cast<std::streamsize>(size))) {
    return absl::DataLossError(path + ": read failed");
  }
  absl::StatusOr<Bundle> bundle = ParseBundle(bytes, limits);
  if (!bundle.ok()) {
    return absl::Status(bundle.status().code(),
                        absl::StrCat(path, ": ", std::string(bundle.status().message())));
  }
  return bundle;
}

namespace {}  // namespace

bool WriteAndSync(int fd, std::string_view bytes) {
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + written, bytes.size() - written);
    if (n <= 0) return false;
    written += static_cast<std::size_t>(n);
  }
  return fsync(fd) == 0;
}

namespace {

// Writes `bytes` to `path` through a temp file, fsync and rename.
absl::Status WriteAtomically(const std::string& path, const std::string& bytes) {
  const std::string temp = path + ".tmp";
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat("cannot create ", temp));
  const bool ok = WriteAndSync(fd, bytes);
  close(fd);
  if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
    std::remove(temp.c_str());
    return absl::DataLossError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

std::string Serialize(v1::BundleHeader header, const std::vector<v1::BundleRecord>& records) {
  std::string body;
  for (const v1::BundleRecord& r : records) AppendDelimited(r, &body);
  header.set_count(static_cast<std::int64_t>(records.size()));
  header.set_bundle_id(Digest(body).ToHex());
  if (header.writer().empty()) header.set_writer(kWriter);
  if (header.created_unix_ms() == 0) {
    header.set_created_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  }
  std::string out(kMagic);
  AppendDelimited(header, &out);
  return out + body;
}

}  // namespace

absl::Status WriteBundle(const std::string& path, v1::BundleHeader header,
                         const std::vector<v1::BundleRecord>& records) {
  if (header.agency().empty()) return absl::InvalidArgumentError("bundle: an agency is required");
  for (std::size_t i = 0; i < records.size(); ++i) {
    HM_RETURN_IF_ERROR(CheckRecord(records[i], absl::StrCat("record ", i)));
  }
  return WriteAtomically(path, Serialize(std::move(header), records));
}

absl::StatusOr<std::string> SignBundleFile(const std::string& path,
                                           const std::string& private_key_path) {
  HM_ASSIGN_OR_RETURN(const Bundle bundle, ReadBundle(path));
  // The same header and records, byte for byte (Serialize is deterministic and keeps the
  // header's fields), then the signature over them.
  std::string bytes = Serialize(bundle.header, bundle.records);
  HM_ASSIGN_OR_RETURN(const Signature signed_digest, SignDigest(private_key_path, Digest(bytes)));
  v1::BundleSignature signature;
  signature.set_algorithm("ed25519");
  signature.set_public_key(signed_digest.public_key);
  signature.set_signature(signed_digest.signature);
  AppendDelimited(signature, &bytes);
  HM_RETURN_IF_ERROR(WriteAtomically(path, bytes));
  return signed_digest.public_key;
}

absl::Status VerifyBundle(const Bundle& bundle, std::string_view public_key) {
  if (!bundle.signature) return absl::UnauthenticatedError("bundle: not signed");
  const v1::BundleSignature& s = *bundle.signature;
  if (s.algorithm() != "ed25519") {
    return absl::UnauthenticatedError(
        absl::StrCat("bundle: signature algorithm \"", s.algorithm(), "\" is not ed25519"));
  }
  if (s.public_key() != public_key) {
    return absl::UnauthenticatedError(absl::StrCat("bundle: signed by key ",
                                                   KeyFingerprint(s.public_key()), ", not by ",
                                                   KeyFingerprint(public_key)));
  }
  if (!VerifyDigest(public_key, bundle.signed_digest, s.signature())) {
    return absl::UnauthenticatedError(
        "bundle: the signature does not match the contents (altered after signing)");
  }
  return absl::OkStatus();
}

}  // namespace hashmatch::tools

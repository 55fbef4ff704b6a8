#include "engine/bundle/bundle.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <openssl/sha.h>

#include "absl/strings/str_cat.h"
#include "engine/bundle/internal/ed25519.h"
#include "engine/sys/sys.h"

namespace hashmatch::bundle {
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
    // The length prefix through protobuf's own varint reader (5 bytes at most for 32 bits).
    const std::string_view rest = bytes_.substr(offset_, 5);
    google::protobuf::io::CodedInputStream prefix(
        reinterpret_cast<const std::uint8_t*>(rest.data()), static_cast<int>(rest.size()));
    std::uint32_t length = 0;
    if (!prefix.ReadVarint32(&length)) {
      const bool truncated = rest.empty() || (rest.size() < 5 && (rest.back() & 0x80) != 0);
      return Error(start, what, index,
                   truncated ? "truncated in its length prefix" : "has a malformed length prefix");
    }
    offset_ += static_cast<std::size_t>(prefix.CurrentPosition());
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
  google::protobuf::io::StringOutputStream stream(out);
  // Fails only for messages over 2 GiB, which CheckRecord's limits rule out.
  (void)google::protobuf::util::SerializeDelimitedToZeroCopyStream(message, &stream);
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
  if (h.signal() == v1::SIGNAL_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".hash.signal: not set or unknown"));
  }
  if (!h.has_raw()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".hash: a bundle holds raw values"));
  }
  const auto signal = static_cast<Signal>(h.signal());
  if (signal == Signal::kPdq && !h.has_quality()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".hash.quality: a PDQ record needs a quality of 0..100"));
  }
  HM_RETURN_IF_ERROR(CheckDescriptorValue(signal, h.raw(), h.has_quality() ? h.quality() : -1,
                                          where + ".hash", kMaxVpdqBytes));
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
  absl::StatusOr<std::string> bytes = sys::ReadFileBoundedString(path, limits.max_bytes);
  if (!bytes.ok()) {
    // Over the limit is the caller's resource limit, not a bad argument.
    if (absl::IsInvalidArgument(bytes.status())) {
      return absl::ResourceExhaustedError(std::string(bytes.status().message()));
    }
    return bytes.status();
  }
  absl::StatusOr<Bundle> bundle = ParseBundle(*bytes, limits);
  if (!bundle.ok()) return Prefixed(bundle.status(), path + ": ");
  return bundle;
}

namespace {

std::string Serialize(v1::BundleHeader header, const std::vector<v1::BundleRecord>& records) {
  std::string body;
  for (const v1::BundleRecord& r : records) AppendDelimited(r, &body);
  header.set_count(static_cast<std::int64_t>(records.size()));
  header.set_bundle_id(Digest(body).ToHex());
  if (header.writer().empty()) header.set_writer(kWriter);
  if (header.created_unix_ms() == 0) {
    header.set_created_unix_ms(sys::NowMs());
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
  return sys::WriteFileAtomic(path, Serialize(std::move(header), records), 0600);
}

absl::StatusOr<std::string> SignBundleFile(const std::string& path,
                                           const std::string& private_key_path) {
  HM_ASSIGN_OR_RETURN(const Bundle bundle, ReadBundle(path));
  // The same header and records, byte for byte (Serialize is deterministic and keeps the
  // header's fields), then the signature over them.
  std::string bytes = Serialize(bundle.header, bundle.records);
  HM_ASSIGN_OR_RETURN(const internal::Signature signed_digest,
                      internal::SignDigest(private_key_path, Digest(bytes)));
  v1::BundleSignature signature;
  signature.set_algorithm("ed25519");
  signature.set_public_key(signed_digest.public_key);
  signature.set_signature(signed_digest.signature);
  AppendDelimited(signature, &bytes);
  HM_RETURN_IF_ERROR(sys::WriteFileAtomic(path, bytes, 0600));
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
  if (!internal::VerifyDigest(public_key, bundle.signed_digest, s.signature())) {
    return absl::UnauthenticatedError(
        "bundle: the signature does not match the contents (altered after signing)");
  }
  return absl::OkStatus();
}

}  // namespace hashmatch::bundle

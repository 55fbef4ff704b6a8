#include "engine/server/internal/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "hashmatch/v1/admin.pb.h"

namespace hashmatch::server {
namespace {

// Our enums are stored on disk and the proto's are on the wire: both are fixed, and equal.
static_assert(static_cast<int>(Signal::kPdq) == v1::SIGNAL_PDQ);
static_assert(static_cast<int>(Signal::kMd5) == v1::SIGNAL_MD5);
static_assert(static_cast<int>(Signal::kSha1) == v1::SIGNAL_SHA1);
static_assert(static_cast<int>(Signal::kSha256) == v1::SIGNAL_SHA256);
static_assert(static_cast<int>(Signal::kVpdq) == v1::SIGNAL_VPDQ);
static_assert(static_cast<int>(Signal::kPhotoDna) == v1::SIGNAL_PHOTODNA);
static_assert(static_cast<int>(DescriptorStatus::kCandidate) == v1::DESCRIPTOR_STATUS_CANDIDATE);
static_assert(static_cast<int>(DescriptorStatus::kVerified) == v1::DESCRIPTOR_STATUS_VERIFIED);
static_assert(static_cast<int>(DescriptorStatus::kRejected) == v1::DESCRIPTOR_STATUS_REJECTED);
static_assert(static_cast<int>(DescriptorStatus::kRetracted) == v1::DESCRIPTOR_STATUS_RETRACTED);
static_assert(static_cast<int>(Role::kPlatform) == v1::ROLE_PLATFORM);
static_assert(static_cast<int>(Role::kIct) == v1::ROLE_ICT);
static_assert(static_cast<int>(Role::kPolice) == v1::ROLE_POLICE);
static_assert(static_cast<int>(Role::kAdmin) == v1::ROLE_ADMIN);
// gRPC and Abseil number their status codes alike.
static_assert(static_cast<int>(absl::StatusCode::kResourceExhausted) ==
              grpc::StatusCode::RESOURCE_EXHAUSTED);
static_assert(static_cast<int>(absl::StatusCode::kUnauthenticated) ==
              grpc::StatusCode::UNAUTHENTICATED);
static_assert(static_cast<int>(absl::StatusCode::kDataLoss) == grpc::StatusCode::DATA_LOSS);

}  // namespace

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

grpc::Status ToGrpc(const absl::Status& status, std::string_view prefix) {
  return ToGrpc(Prefixed(status, prefix));
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

v1::Signal ToProto(Signal signal) { return static_cast<v1::Signal>(signal); }
v1::DescriptorStatus ToProto(DescriptorStatus status) {
  return static_cast<v1::DescriptorStatus>(status);
}
v1::Role ToProto(Role role) { return static_cast<v1::Role>(role); }

std::optional<Signal> FromProto(v1::Signal signal) {
  if (signal == v1::SIGNAL_UNSPECIFIED) return std::nullopt;
  const auto ours = static_cast<Signal>(signal);
  return ParseSignal(SignalName(ours)) ? std::optional(ours) : std::nullopt;
}

std::optional<DescriptorStatus> FromProto(v1::DescriptorStatus status) {
  if (status == v1::DESCRIPTOR_STATUS_UNSPECIFIED) return std::nullopt;
  const auto ours = static_cast<DescriptorStatus>(status);
  return ParseStatus(StatusName(ours)) ? std::optional(ours) : std::nullopt;
}

std::optional<Role> FromProto(v1::Role role) {
  if (role == v1::ROLE_UNSPECIFIED) return std::nullopt;
  const auto ours = static_cast<Role>(role);
  return ParseRole(RoleName(ours)) ? std::optional(ours) : std::nullopt;
}

void FillDescriptor(const index::Descriptor& d, bool police, v1::Descriptor* out) {
  out->set_id(d.id);
  out->mutable_hash()->set_signal(ToProto(d.signal));
  out->mutable_hash()->set_raw(d.value);
  if (d.quality >= 0) out->mutable_hash()->set_quality(d.quality);
  out->set_category(d.category);
  out->set_status(ToProto(d.status));
  out->set_created_unix_ms(d.created_ms);
  out->set_status_changed_unix_ms(d.status_changed_ms);
  out->set_status_changed_by(d.status_changed_by);
  out->set_status_reason(d.status_reason);
  for (const index::Provenance& p : d.provenance) {
    v1::Provenance* o = out->add_provenance();
    o->set_agency(p.contribution.agency);
    if (police) o->set_case_ref(p.contribution.case_ref);
    o->set_contributor(p.contribution.contributor);
    o->set_bundle_id(p.contribution.bundle_id);
    o->set_added_unix_ms(p.added_ms);
  }
}

void FillImport(const BundleImport& in, v1::BundleImport* out) {
  out->set_bundle_id(in.bundle_id);
  out->set_records(in.records);
  out->set_added(in.added);
  out->set_merged(in.merged);
  out->set_status(ToProto(in.status));
  out->set_agency(in.agency);
  out->set_signer_fingerprint(in.signer_fingerprint);
  out->set_commit_seq(in.commit_seq);
  out->set_imported_unix_ms(in.imported_ms);
}

void FillRange(const index::TimeRange& r, v1::TimeRange* out) {
  out->set_query_start_seconds(r.query_start);
  out->set_query_end_seconds(r.query_end);
  out->set_known_start_seconds(r.stored_start);
  out->set_known_end_seconds(r.stored_end);
}

absl::StatusOr<ParsedHash> ParseHash(const v1::HashValue& h, const std::string& where) {
  const std::optional<Signal> signal = FromProto(h.signal());
  if (!signal) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".signal: not set or unknown (", static_cast<int>(h.signal()), ")"));
  }
  const std::size_t want = SignalValueBytes(*signal);
  std::string value;
  if (h.has_raw()) {
    value = h.raw();
  } else if (h.has_hex()) {
    const std::string& hex = h.hex();
    if (want != 0 && hex.size() != 2 * want) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".hex: ", hex.size(), " hex digits, ",
                                                     SignalName(*signal), " needs ", 2 * want));
    }
    if (hex.size() > (std::size_t{1} << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".hex: ", hex.size(), " hex digits; the limit is 1 MiB"));
    }
    absl::StatusOr<std::string> decoded = DecodeHex(hex);
    if (!decoded.ok()) return Prefixed(decoded.status(), where + ".hex: ");
    value = *std::move(decoded);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(where, ": neither raw nor hex is set"));
  }
  if (want != 0 && value.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".raw: ", value.size(), " bytes, ",
                                                   SignalName(*signal), " needs ", want));
  }
  if (h.has_quality() && (h.quality() < 0 || h.quality() > 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".quality: ", h.quality(), " is outside 0..100"));
  }
  ParsedHash parsed{*signal, std::move(value), std::nullopt};
  if (h.has_quality()) parsed.quality = h.quality();
  return parsed;
}

}  // namespace hashmatch::server

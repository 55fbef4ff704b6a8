// engine/server/internal/proto_convert: the one boundary between the API's messages and the
// engine's types. Every enum conversion (with static_asserts that the proto's numbers and ours
// agree), the engine's records as messages, client hashes parsed into raw values, and the only
// absl::Status -> grpc::Status mapping. (What a role may see of a match is the services' rule:
// Services::Impl::FillMatch.)
// Internal to engine/server. Pure functions: thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "engine/core/core.h"
#include "engine/server/internal/auth.h"
#include "engine/server/internal/bundles.h"
#include "hashmatch/v1/admin.pb.h"
#include "hashmatch/v1/ingest.pb.h"
#include "hashmatch/v1/match.pb.h"
#include "hashmatch/v1/types.pb.h"
#include "index/matcher.h"
#include "index/store.h"

namespace hashmatch::server {

namespace v1 = ::hashmatch::v1;

// ---- Status ----

// The gRPC status for an engine status: the same code (gRPC and Abseil number theirs alike) and
// message. Every handler answers through this, so an engine error keeps its meaning on the wire
// (RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ...).
grpc::Status ToGrpc(const absl::Status& status);
// ToGrpc with `prefix` put before the message.
grpc::Status ToGrpc(const absl::Status& status, std::string_view prefix);
// "INVALID_ARGUMENT" etc., for audit records and metrics.
std::string CodeName(grpc::StatusCode code);

// ---- Enums ----

v1::Signal ToProto(Signal signal);
v1::DescriptorStatus ToProto(DescriptorStatus status);
v1::Role ToProto(Role role);
// std::nullopt for UNSPECIFIED and numbers this build does not know.
std::optional<Signal> FromProto(v1::Signal signal);
std::optional<DescriptorStatus> FromProto(v1::DescriptorStatus status);
std::optional<Role> FromProto(v1::Role role);

// ---- Messages ----

// A stored descriptor for ict/police (GetDescriptor, ListDescriptors); case references only when
// `police`.
void FillDescriptor(const index::Descriptor& d, bool police, v1::Descriptor* out);
void FillImport(const BundleImport& in, v1::BundleImport* out);
void FillRange(const index::TimeRange& r, v1::TimeRange* out);

// ---- Hashes ----

// A client hash: signal and raw bytes (hex decoded), quality when the client sent one.
struct ParsedHash {
  Signal signal;
  std::string value;
  std::optional<int> quality;
};

// Checks and decodes a HashValue. `where` names the field in errors, e.g. "hashes[3]".
[[nodiscard]] absl::StatusOr<ParsedHash> ParseHash(const v1::HashValue& h,
                                                   const std::string& where);

}  // namespace hashmatch::server

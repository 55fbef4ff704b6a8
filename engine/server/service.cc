#include "engine/server/service.h"

#include <openssl/sha.h>

#include <algorithm>
#include <thread>

#include "engine/describe/describe.h"
#include "engine/server/internal/services_impl.h"

namespace hashmatch::server {

grpc::Status Services::Impl::Begin(grpc::ServerContextBase* context, Call* call) {
  const auto& metadata = context->client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "missing 'authorization: Bearer <key>' metadata");
  }
  const std::string_view header(it->second.data(), it->second.size());
  constexpr std::string_view kBearer = "Bearer ";
  if (header.substr(0, kBearer.size()) != kBearer) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "authorization metadata must be 'Bearer <key>'");
  }
  absl::StatusOr<ApiKeyInfo> key = keys->Authenticate(header.substr(kBearer.size()));
  if (!key.ok()) return ToGrpc(key.status());
  call->key = *std::move(key);
  call->authenticated = true;
  if (!MayCall(call->key.role, call->method)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("role ", std::string(RoleName(call->key.role)),
                                     " may not call ", call->method));
  }
  const double per_second =
      call->key.rate_per_second > 0 ? call->key.rate_per_second : limits.default_rate_per_second;
  if (!limiter.Allow(call->key.key_id, per_second)) {
    return grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat("rate limit of ", per_second, " calls per second for this key"));
  }
  return grpc::Status::OK;
}

void Services::Impl::RestartDeadline(Call* call, double seconds) const {
  if (seconds <= 0) seconds = limits.max_call_seconds;
  const auto limit = std::chrono::system_clock::now() +
                     std::chrono::duration_cast<std::chrono::system_clock::duration>(
                         std::chrono::duration<double>(seconds));
  call->deadline_seconds = seconds;
  call->deadline_is_servers = limit < call->context->deadline();
  call->deadline = std::min(limit, call->context->deadline());
}

grpc::Status Services::Impl::CheckDeadline(const Call& call) const {
  if (call.context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call");
  }
  if (std::chrono::system_clock::now() < call.deadline) return grpc::Status::OK;
  return grpc::Status(
      grpc::StatusCode::DEADLINE_EXCEEDED,
      call.deadline_is_servers
          ? absl::StrCat("the call ran past the server's limit of ", call.deadline_seconds, " s (",
                         call.deadline_seconds == limits.max_call_seconds ? "--max-call-seconds"
                                                                          : "--max-video-seconds",
                         ")")
          : std::string("the call ran past the client's deadline"));
}

IndexGauges Services::Impl::Gauges() const {
  IndexGauges gauges;
  if (const index::Matcher* m = Matcher()) {
    const index::MatcherStats stats = m->Stats();
    gauges.ready = true;
    for (const std::size_t e : stats.entries) gauges.entries += static_cast<std::int64_t>(e);
    gauges.memory_bytes = static_cast<std::int64_t>(stats.memory_bytes);
    gauges.applied_seq = stats.applied_seq;
  }
  return gauges;
}

absl::StatusOr<index::MatchOptions> Services::Impl::Options(const Call& call,
                                                            const v1::MatchOptions& in) {
  index::MatchOptions out;
  const bool privileged = call.key.role == Role::kIct || call.key.role == Role::kPolice;
  if (in.has_max_distance()) {
    if (!privileged) {
      return absl::PermissionDeniedError("options.max_distance: only ict and police may set it");
    }
    if (in.max_distance() < 0 || in.max_distance() > 63) {
      return absl::InvalidArgumentError(
          absl::StrCat("options.max_distance: ", in.max_distance(), " is outside 0..63"));
    }
    out.max_distance = in.max_distance();
  }
  if (in.include_candidates()) {
    if (!privileged) {
      return absl::PermissionDeniedError(
          "options.include_candidates: only ict and police may set it");
    }
    out.include_candidates = true;
  }
  return out;
}

void Services::Impl::FillMatch(const Call& call, const index::Match& m, Signal signal,
                               v1::Match* out) {
  Sha256 ref;
  const std::string seed = absl::StrCat(store->store_id(), ":", m.id);
  SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), ref.bytes.data());
  out->set_match_ref("m_" + ref.ToHex().substr(0, 32));
  const absl::StatusOr<index::Descriptor> d = store->Get(m.id);
  if (d.ok()) out->set_category(d->category);
  if (call.key.role == Role::kPlatform) return;
  out->set_descriptor_id(m.id);
  out->set_signal(ToProto(signal));
  out->set_distance(m.distance);
  out->set_status(ToProto(m.status));
  if (call.key.role == Role::kPolice && d.ok()) {
    for (const index::Provenance& p : d->provenance) {
      v1::Provenance* o = out->add_provenance();
      o->set_agency(p.contribution.agency);
      o->set_case_ref(p.contribution.case_ref);
      o->set_contributor(p.contribution.contributor);
      o->set_bundle_id(p.contribution.bundle_id);
      o->set_added_unix_ms(p.added_ms);
    }
  }
}

grpc::Status Services::Impl::Lookup(Call* call,
                                    const std::vector<absl::StatusOr<ParsedHash>>& hashes,
                                    const index::MatchOptions& options,
                                    google::protobuf::RepeatedPtrField<v1::HashResult>* results) {
  index::Matcher* m = Matcher();
  if (m == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the index is still loading");
  }
  if (grpc::Status status = CheckDeadline(*call); !status.ok()) return status;
  std::vector<Pdq256> pdq;
  std::vector<std::size_t> pdq_items;
  for (std::size_t i = 0; i < hashes.size(); ++i) {
    v1::HashResult* r = results->Add();
    r->set_index(static_cast<int>(i));
    if (!hashes[i].ok()) {
      r->mutable_error()->set_code(CodeName(ToGrpc(hashes[i].status()).error_code()));
      r->mutable_error()->set_message(std::string(hashes[i].status().message()));
      continue;
    }
    const ParsedHash& h = *hashes[i];
    if (h.signal == Signal::kPdq) {
      Pdq256& q = pdq.emplace_back();
      std::copy(h.value.begin(), h.value.end(), q.bytes.begin());
      pdq_items.push_back(i);
      continue;
    }
    if (h.signal == Signal::kVpdq || h.signal == Signal::kPhotoDna) {
      r->mutable_error()->set_code("INVALID_ARGUMENT");
      r->mutable_error()->set_message(absl::StrCat("hashes[", i, "].signal: ", SignalName(h.signal),
                                                   " cannot be matched by MatchHashes"));
      continue;
    }
    absl::StatusOr<std::optional<index::Match>> found = m->MatchDigest(h.signal, h.value, options);
    if (!found.ok()) return ToGrpc(found.status());
    if (*found) AddMatch(call, **found, h.signal, r);
  }
  if (!pdq.empty()) {
    absl::StatusOr<std::vector<std::vector<index::Match>>> found = m->MatchPdqBatch(pdq, options);
    if (!found.ok()) return ToGrpc(found.status());
    for (std::size_t k = 0; k < pdq.size(); ++k) {
      for (const index::Match& match : (*found)[k]) {
        AddMatch(call, match, Signal::kPdq, &(*results)[static_cast<int>(pdq_items[k])]);
      }
    }
  }
  std::int64_t matched = 0;
  for (const v1::HashResult& r : *results) matched += r.matched() ? 1 : 0;
  metrics.RecordLookups(static_cast<std::int64_t>(hashes.size()), matched);
  return CheckDeadline(*call);
}

void Services::Impl::AddMatch(Call* call, const index::Match& m, Signal signal, v1::HashResult* r) {
  r->set_matched(true);
  FillMatch(*call, m, signal, r->add_matches());
  call->descriptor_ids.push_back(m.id);
}

namespace {

// MatchHashes, the hot path, runs on gRPC's callback API: answered on the thread that read the
// request, without the sync server's hand-off to a worker thread (measured: bench_service).
class MatchServiceImpl final
    : public v1::MatchService::WithCallbackMethod_MatchHashes<v1::MatchService::Service> {
 public:
  explicit MatchServiceImpl(Services::Impl* s) : s_(s) {}

  grpc::ServerUnaryReactor* MatchHashes(grpc::CallbackServerContext* context,
                                        const v1::MatchHashesRequest* request,
                                        v1::MatchHashesResponse* response) override {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    s_->ServeAsync(
        context, "/hashmatch.v1.MatchService/MatchHashes",
        [&](Call& call) { return Run(call, *request, response); },
        [reactor](const grpc::Status& status) { reactor->Finish(status); });
    return reactor;
  }

  grpc::Status MatchMedia(grpc::ServerContext* context, const v1::MatchMediaRequest* request,
                          v1::MatchMediaResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.MatchService/MatchMedia",
                     [&](Call& call) { return RunMedia(call, *request, response); });
  }

  grpc::Status MatchVideo(grpc::ServerContext* context,
                          grpc::ServerReader<v1::MatchVideoChunk>* reader,
                          v1::MatchVideoResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.MatchService/MatchVideo",
                     [&](Call& call) { return s_->RunVideo(call, reader, response); });
  }

 private:
  grpc::Status Run(Call& call, const v1::MatchHashesRequest& request,
                   v1::MatchHashesResponse* response) {
    call.items = request.hashes_size();
    if (request.hashes_size() > s_->limits.max_batch) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                          absl::StrCat("hashes: ", request.hashes_size(),
                                       " items; the batch limit is ", s_->limits.max_batch));
    }
    absl::StatusOr<index::MatchOptions> options = s_->Options(call, request.options());
    if (!options.ok()) return ToGrpc(options.status());
    std::vector<absl::StatusOr<ParsedHash>> hashes;
    hashes.reserve(request.hashes_size());
    for (int i = 0; i < request.hashes_size(); ++i) {
      hashes.push_back(ParseHash(request.hashes(i), absl::StrCat("hashes[", i, "]")));
    }
    return s_->Lookup(&call, hashes, *options, response->mutable_results());
  }

  grpc::Status RunMedia(Call& call, const v1::MatchMediaRequest& request,
                        v1::MatchMediaResponse* response) {
    call.items = 1;
    absl::StatusOr<index::MatchOptions> options = s_->Options(call, request.options());
    if (!options.ok()) return ToGrpc(options.status());
    describe::DescribeOptions describe_options;
    describe_options.image_limits.max_bytes = s_->limits.max_image_bytes;
    describe_options.image_limits.max_pixels = s_->limits.max_image_pixels;
    describe::Describer describer(describe_options);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(request.media().data());
    absl::StatusOr<describe::Descriptors> described =
        describer.Describe(std::span(bytes, request.media().size()), describe::MediaKind::kImage);
    if (!described.ok()) return ToGrpc(described.status(), "media: ");
    const auto& d = std::get<describe::ImageDescriptors>(*described);
    if (grpc::Status status = s_->CheckDeadline(call); !status.ok()) return status;
    v1::ComputedHashes* c = response->mutable_computed();
    c->set_pdq(std::string(d.pdq.hash.AsChars()));
    c->set_pdq_quality(d.pdq.quality);
    c->set_md5(std::string(d.digests.md5.AsChars()));
    c->set_sha1(std::string(d.digests.sha1.AsChars()));
    c->set_sha256(std::string(d.digests.sha256.AsChars()));
    std::vector<absl::StatusOr<ParsedHash>> hashes = {
        ParsedHash{Signal::kSha256, c->sha256(), std::nullopt},
        ParsedHash{Signal::kSha1, c->sha1(), std::nullopt},
        ParsedHash{Signal::kMd5, c->md5(), std::nullopt}};
    const index::Matcher* matcher = s_->Matcher();
    if (matcher != nullptr && matcher->QueryQualityMatches(d.pdq.quality, *options)) {
      hashes.push_back(ParsedHash{Signal::kPdq, c->pdq(), d.pdq.quality});
    }
    google::protobuf::RepeatedPtrField<v1::HashResult> results;
    grpc::Status status = s_->Lookup(&call, hashes, *options, &results);
    if (!status.ok()) return status;
    for (const v1::HashResult& r : results) {
      for (const v1::Match& m : r.matches()) *response->add_matches() = m;
    }
    response->set_matched(response->matches_size() > 0);
    return grpc::Status::OK;
  }

  Services::Impl* s_;
};

}  // namespace

Services::Services(index::Store* store, KeyTable* keys, AuditLog* audit, BundleInbox* bundles,
                   ServiceLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->store = store;
  impl_->bundles = bundles;
  impl_->keys = keys;
  impl_->audit = audit;
  impl_->limits = limits;
  impl_->match_service = std::make_unique<MatchServiceImpl>(impl_.get());
  impl_->ingest_service = MakeIngestService(impl_.get());
  impl_->admin_service = MakeAdminService(impl_.get());
}

Services::~Services() = default;

void Services::AttachMatcher(index::Matcher* matcher) {
  impl_->matcher.store(matcher, std::memory_order_release);
}
grpc::Service* Services::match_service() { return impl_->match_service.get(); }
grpc::Service* Services::ingest_service() { return impl_->ingest_service.get(); }
grpc::Service* Services::admin_service() { return impl_->admin_service.get(); }

bool Services::ready() const { return impl_->Matcher() != nullptr; }

int Services::Drain(double timeout_seconds) {
  impl_->draining.store(true);
  const double start = sys::MonotonicSeconds();
  while (impl_->in_flight.load() > 0 && sys::MonotonicSeconds() - start < timeout_seconds) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return impl_->in_flight.load();
}

std::string Services::PrometheusMetrics() const {
  return PrometheusText(impl_->metrics.Snapshot(), impl_->Gauges());
}

}  // namespace hashmatch::server

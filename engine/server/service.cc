#include "engine/server/service.h"

#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "engine/server/metrics.h"
#include "hashmatch/v1/admin.grpc.pb.h"
#include "hashmatch/v1/ingest.grpc.pb.h"
#include "hashmatch/v1/match.grpc.pb.h"
#include "tools/common/local_hash.h"

namespace hashmatch::server {
namespace {

namespace v1 = ::hashmatch::v1;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

grpc::StatusCode ToGrpcCode(absl::StatusCode code) { return static_cast<grpc::StatusCode>(code); }

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(ToGrpcCode(status.code()), std::string(status.message()));
}

std::string CodeName(grpc::StatusCode code) {
  // gRPC and Abseil number their status codes alike.
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

// Token bucket per key: `rate` per second, bursts of two seconds' worth.
class RateLimiter {
 public:
  bool Allow(const std::string& key_id, double rate) {
    const double now =
        std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    std::lock_guard lock(mu_);
    Bucket& b = buckets_[key_id];
    const double capacity = std::max(1.0, 2 * rate);
    if (b.time == 0) b = {capacity, now};
    b.tokens = std::min(capacity, b.tokens + (now - b.time) * rate);
    b.time = now;
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

 private:
  struct Bucket {
    double tokens = 0;
    double time = 0;
  };
  std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

// The caller of one RPC and what its audit record will say.
struct Call {
  Call(grpc::ServerContextBase* c, std::string m) : context(c), method(std::move(m)) {}
  grpc::ServerContextBase* context;
  std::string method;
  // The earlier of the client's deadline and the server's --max-call-seconds limit.
  std::chrono::system_clock::time_point deadline;
  bool deadline_is_servers = false;
  ApiKeyInfo key;
  bool authenticated = false;
  std::int64_t items = 0;
  std::vector<std::int64_t> descriptor_ids;
};

// A parsed client hash: signal and raw bytes.
struct ParsedHash {
  Signal signal;
  std::string value;
};

absl::StatusOr<ParsedHash> ParseHash(const v1::HashValue& h, const std::string& where) {
  const auto signal = static_cast<Signal>(h.signal());
  if (h.signal() == v1::SIGNAL_UNSPECIFIED || !ParseSignal(SignalName(signal))) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".signal: not set or unknown (", static_cast<int>(h.signal()), ")"));
  }
  const std::size_t want = SignalValueBytes(signal);
  std::string value;
  if (h.has_raw()) {
    value = h.raw();
  } else if (h.has_hex()) {
    const std::string& hex = h.hex();
    if (want != 0 && hex.size() != 2 * want) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".hex: ", hex.size(), " hex digits, ",
                                                     SignalName(signal), " needs ", 2 * want));
    }
    if (hex.size() > (std::size_t{1} << 20)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".hex: ", hex.size(), " hex digits; the limit is 1 MiB"));
    }
    absl::StatusOr<std::string> decoded = DecodeHex(hex);
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".hex: ", std::string(decoded.status().message())));
    }
    value = *std::move(decoded);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(where, ": neither raw nor hex is set"));
  }
  if (want != 0 && value.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".raw: ", value.size(), " bytes, ",
                                                   SignalName(signal), " needs ", want));
  }
  if (h.has_quality() && (h.quality() < 0 || h.quality() > 100)) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".quality: ", h.quality(), " is outside 0..100"));
  }
  return ParsedHash{signal, std::move(value)};
}

}  // namespace

struct Services::Impl {
  index::Store* store = nullptr;
  KeyTable* keys = nullptr;
  AuditLog* audit = nullptr;
  ServiceLimits limits;
  std::unique_ptr<grpc::Service> match_service, ingest_service, admin_service;
  std::atomic<index::Matcher*> matcher{nullptr};
  RateLimiter limiter;
  Metrics metrics;

  // Authenticates and authorises `call->method`; a non-OK status is the RPC's answer.
  grpc::Status Begin(grpc::ServerContextBase* context, Call* call) {
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

  // One RPC: authenticate and authorise, run, audit. `answer` gets the status once the audit
  // record is committed (on the audit log's thread): no answer goes out unaudited.
  template <typename Run>
  void ServeAsync(grpc::ServerContextBase* context, const char* method, Run run,
                  std::function<void(const grpc::Status&)> answer) {
    const auto start = std::chrono::steady_clock::now();
    Call call(context, method);
    RestartDeadline(&call);
    grpc::Status status = Begin(context, &call);
    if (status.ok()) status = run(call);
    AuditRecord record{NowMs(),
                       call.key.key_id,
                       call.authenticated ? std::string(RoleName(call.key.role)) : "",
                       call.method,
                       CodeName(status.error_code()),
                       call.items,
                       std::move(call.descriptor_ids)};
    audit->AppendAsync(
        std::move(record), [this, start, method, status = std::move(status),
                            answer = std::move(answer)](const absl::Status& audited) {
          const grpc::Status final_status =
              audited.ok() ? status
                           : grpc::Status(grpc::StatusCode::INTERNAL,
                                          "the audit log could not be written; the call was not "
                                          "completed");
          metrics.RecordCall(
              method, final_status.error_code(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
          answer(final_status);
        });
  }

  // ServeAsync for the sync API: waits for the audit commit.
  template <typename Run>
  grpc::Status Serve(grpc::ServerContextBase* context, const char* method, Run run) {
    std::promise<grpc::Status> answer;
    ServeAsync(context, method, run, [&](const grpc::Status& s) { answer.set_value(s); });
    return answer.get_future().get();
  }

  // Starts the server's time limit for a call, or for the next batch of a stream.
  void RestartDeadline(Call* call) const {
    const auto limit = std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::duration<double>(limits.max_call_seconds));
    call->deadline_is_servers = limit < call->context->deadline();
    call->deadline = std::min(limit, call->context->deadline());
  }

  // Checked between the steps of a call: stop work nobody will read.
  grpc::Status CheckDeadline(const Call& call) const {
    if (call.context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call");
    }
    if (std::chrono::system_clock::now() < call.deadline) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        call.deadline_is_servers
                            ? absl::StrCat("the call ran past the server's limit of ",
                                           limits.max_call_seconds, " s (--max-call-seconds)")
                            : std::string("the call ran past the client's deadline"));
  }

  index::Matcher* Matcher() const { return matcher.load(std::memory_order_acquire); }

  IndexGauges Gauges() const {
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

  absl::StatusOr<index::MatchOptions> Options(const Call& call, const v1::MatchOptions& in) {
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

  // The API form of one match, cut to what the caller's role may see.
  void FillMatch(const Call& call, const index::Match& m, Signal signal, v1::Match* out) {
    Sha256 ref;
    const std::string seed = absl::StrCat(store->store_id(), ":", m.id);
    SHA256(reinterpret_cast<const unsigned char*>(seed.data()), seed.size(), ref.bytes.data());
    out->set_match_ref("m_" + ref.ToHex().substr(0, 32));
    const absl::StatusOr<index::Descriptor> d = store->Get(m.id);
    if (d.ok()) out->set_category(d->category);
    if (call.key.role == Role::kPlatform) return;
    out->set_descriptor_id(m.id);
    out->set_signal(static_cast<v1::Signal>(signal));
    out->set_distance(m.distance);
    out->set_status(static_cast<v1::DescriptorStatus>(m.status));
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

  // Looks up parsed hashes (PDQ in one batch call); per-item results in `results`.
  grpc::Status Lookup(Call* call, const std::vector<absl::StatusOr<ParsedHash>>& hashes,
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
        r->mutable_error()->set_code(CodeName(ToGrpcCode(hashes[i].status().code())));
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
        r->mutable_error()->set_message(absl::StrCat(
            "hashes[", i, "].signal: ", SignalName(h.signal), " cannot be matched by MatchHashes"));
        continue;
      }
      absl::StatusOr<std::optional<index::Match>> found =
          m->MatchDigest(h.signal, h.value, options);
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

  void AddMatch(Call* call, const index::Match& m, Signal signal, v1::HashResult* r) {
    r->set_matched(true);
    FillMatch(*call, m, signal, r->add_matches());
    call->descriptor_ids.push_back(m.id);
  }
};

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
                          grpc::ServerReader<v1::MatchVideoChunk>* /*reader*/,
                          v1::MatchVideoResponse* /*response*/) override {
    return s_->Serve(context, "/hashmatch.v1.MatchService/MatchVideo", [&](Call&) {
      grpc::Status status;
      status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "video matching is not available yet");
      return status;
    });
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
    media::ImageLimits limits;
    limits.max_bytes = s_->limits.max_image_bytes;
    limits.max_pixels = s_->limits.max_image_pixels;
    tools::LocalHasher hasher(limits);
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(request.media().data());
    absl::StatusOr<tools::ImageDescriptors> d =
        hasher.HashImage(std::span(bytes, request.media().size()), false);
    if (!d.ok()) {
      return grpc::Status(d.status().code() == absl::StatusCode::kResourceExhausted
                              ? grpc::StatusCode::RESOURCE_EXHAUSTED
                              : grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("media: ", std::string(d.status().message())));
    }
    if (grpc::Status status = s_->CheckDeadline(call); !status.ok()) return status;
    v1::ComputedHashes* c = response->mutable_computed();
    const auto str = [](const auto& h) {
      return std::string(reinterpret_cast<const char*>(h.bytes.data()), h.bytes.size());
    };
    c->set_pdq(str(d->pdq.hash));
    c->set_pdq_quality(d->pdq.quality);
    c->set_md5(str(d->digests.md5));
    c->set_sha1(str(d->digests.sha1));
    c->set_sha256(str(d->digests.sha256));
    std::vector<absl::StatusOr<ParsedHash>> hashes = {ParsedHash{Signal::kSha256, c->sha256()},
                                                      ParsedHash{Signal::kSha1, c->sha1()},
                                                      ParsedHash{Signal::kMd5, c->md5()}};
    // A featureless image (quality below the floor) is not looked up by PDQ: it would match
    // other featureless images.
    if (d->pdq.quality >= 50) hashes.push_back(ParsedHash{Signal::kPdq, c->pdq()});
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

namespace {

void FillDescriptor(const index::Descriptor& d, bool police, v1::Descriptor* out) {
  out->set_id(d.id);
  out->mutable_hash()->set_signal(static_cast<v1::Signal>(d.signal));
  out->mutable_hash()->set_raw(d.value);
  if (d.quality >= 0) out->mutable_hash()->set_quality(d.quality);
  out->set_category(d.category);
  out->set_status(static_cast<v1::DescriptorStatus>(d.status));
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

class IngestServiceImpl final : public v1::IngestService::Service {
 public:
  explicit IngestServiceImpl(Services::Impl* s) : s_(s) {}

  grpc::Status AddDescriptors(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::AddDescriptorsResponse, v1::AddDescriptorsRequest>* stream)
      override {
    return s_->Serve(context, "/hashmatch.v1.IngestService/AddDescriptors",
                     [&](Call& call) { return RunAdd(call, stream); });
  }

  grpc::Status SetStatus(grpc::ServerContext* context, const v1::SetStatusRequest* request,
                         v1::SetStatusResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.IngestService/SetStatus",
                     [&](Call& call) { return RunSetStatus(call, *request, response); });
  }

  grpc::Status GetDescriptor(grpc::ServerContext* context, const v1::GetDescriptorRequest* request,
                             v1::Descriptor* response) override {
    return s_->Serve(context, "/hashmatch.v1.IngestService/GetDescriptor",
                     [&](Call& call) { return RunGet(call, *request, response); });
  }

 private:
  grpc::Status RunAdd(
      Call& call,
      grpc::ServerReaderWriter<v1::AddDescriptorsResponse, v1::AddDescriptorsRequest>* stream) {
    const DescriptorStatus status =
        call.key.role == Role::kPolice ? DescriptorStatus::kVerified : DescriptorStatus::kCandidate;
    v1::AddDescriptorsRequest request;
    for (std::int64_t batch = 0; stream->Read(&request); ++batch) {
      // The server's limit applies to each batch (a long push is many batches); the client's
      // deadline to the whole stream.
      s_->RestartDeadline(&call);
      const std::string where = absl::StrCat("batch ", batch);
      if (request.items_size() > s_->limits.max_batch) {
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat(where, ": ", request.items_size(),
                                         " items; the batch limit is ", s_->limits.max_batch));
      }
      if (request.contribution().agency().empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            where + ": contribution.agency is required");
      }
      std::vector<index::NewDescriptor> items;
      items.reserve(request.items_size());
      for (int i = 0; i < request.items_size(); ++i) {
        const v1::NewDescriptor& item = request.items(i);
        const std::string field = absl::StrCat(where, ": items[", i, "].hash");
        absl::StatusOr<ParsedHash> h = ParseHash(item.hash(), field);
        if (!h.ok()) return ToGrpc(h.status());
        if (h->signal == Signal::kPdq && !item.hash().has_quality()) {
          return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                              field + ".quality: a PDQ descriptor needs its quality");
        }
        const int quality =
            h->signal == Signal::kPdq || item.hash().has_quality() ? item.hash().quality() : -1;
        items.push_back({h->signal, std::move(h->value), quality, item.category(), status});
      }
      const index::Contribution contribution{request.contribution().agency(),
                                             request.contribution().case_ref(), call.key.key_id,
                                             request.contribution().bundle_id()};
      absl::StatusOr<index::AddResult> added = s_->store->Add(contribution, items);
      if (!added.ok()) {
        return grpc::Status(ToGrpcCode(added.status().code()),
                            absl::StrCat(where, ": ", std::string(added.status().message())));
      }
      call.items += request.items_size();
      if (index::Matcher* m = s_->Matcher()) m->CatchUp().IgnoreError();  // the merger retries
      // Committed: the ack still goes out, so the client learns the ids even when late.
      v1::AddDescriptorsResponse response;
      response.set_batch_index(batch);
      for (const index::DescriptorId id : added->ids) response.add_ids(id);
      for (const index::AddResult::Outcome o : added->outcomes) {
        response.add_outcomes(o == index::AddResult::Outcome::kAdded ? v1::ADD_OUTCOME_ADDED
                                                                     : v1::ADD_OUTCOME_MERGED);
      }
      response.set_commit_seq(added->commit_seq);
      if (!stream->Write(response)) break;  // the client went away; what is committed stays
    }
    return grpc::Status::OK;
  }

  grpc::Status RunSetStatus(Call& call, const v1::SetStatusRequest& request,
                            v1::SetStatusResponse* response) {
    call.items = 1;
    call.descriptor_ids.push_back(request.descriptor_id());
    const v1::DescriptorStatus to = request.status();
    if (to != v1::DESCRIPTOR_STATUS_VERIFIED && to != v1::DESCRIPTOR_STATUS_REJECTED &&
        to != v1::DESCRIPTOR_STATUS_RETRACTED) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "status: must be VERIFIED, REJECTED or RETRACTED");
    }
    if (to != v1::DESCRIPTOR_STATUS_VERIFIED && request.reason().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "reason: required to reject or retract");
    }
    absl::StatusOr<std::int64_t> seq =
        s_->store->SetStatus(request.descriptor_id(), static_cast<DescriptorStatus>(to),
                             call.key.key_id, request.reason());
    if (!seq.ok()) return ToGrpc(seq.status());
    if (index::Matcher* m = s_->Matcher()) m->CatchUp().IgnoreError();
    response->set_commit_seq(*seq);
    return grpc::Status::OK;
  }

  grpc::Status RunGet(Call& call, const v1::GetDescriptorRequest& request,
                      v1::Descriptor* response) {
    call.items = 1;
    absl::StatusOr<index::Descriptor> d = absl::NotFoundError("no descriptor with that key");
    if (request.has_hash()) {
      absl::StatusOr<ParsedHash> h = ParseHash(request.hash(), "hash");
      if (!h.ok()) return ToGrpc(h.status());
      absl::StatusOr<std::optional<index::Descriptor>> found = s_->store->Find(h->signal, h->value);
      if (!found.ok()) return ToGrpc(found.status());
      if (!*found) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no descriptor with that hash");
      d = **std::move(found);
    } else if (request.key_case() == v1::GetDescriptorRequest::kId) {
      d = s_->store->Get(request.id());
    } else {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "key: set id or hash");
    }
    if (!d.ok()) return ToGrpc(d.status());
    call.descriptor_ids.push_back(d->id);
    FillDescriptor(*d, call.key.role == Role::kPolice, response);
    return grpc::Status::OK;
  }

  Services::Impl* s_;
};

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  explicit AdminServiceImpl(Services::Impl* s) : s_(s) {}

  grpc::Status GetStats(grpc::ServerContext* context, const v1::GetStatsRequest*,
                        v1::Stats* response) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/GetStats", [&](Call&) {
      absl::StatusOr<std::vector<index::Store::Count>> counts = s_->store->Counts();
      if (!counts.ok()) return ToGrpc(counts.status());
      for (const index::Store::Count& c : *counts) {
        v1::DescriptorCount* out = response->add_descriptors();
        out->set_signal(std::string(SignalName(c.signal)));
        out->set_status(std::string(StatusName(c.status)));
        out->set_category(c.category);
        out->set_count(c.count);
      }
      const IndexGauges gauges = s_->Gauges();
      response->set_index_entries(gauges.entries);
      response->set_index_memory_bytes(gauges.memory_bytes);
      response->set_index_applied_seq(gauges.applied_seq);
      const MetricsSnapshot metrics = s_->metrics.Snapshot();
      response->set_lookups(metrics.lookups);
      response->set_matches(metrics.matches);
      for (const MethodMetrics& m : metrics.methods) {
        v1::MethodStats* out = response->add_methods();
        out->set_method(m.method);
        for (int c = 0; c < kStatusCodes; ++c) {
          if (m.calls_by_code[c] > 0) {
            (*out->mutable_calls_by_code())[CodeName(static_cast<grpc::StatusCode>(c))] =
                m.calls_by_code[c];
          }
        }
        for (const double bound : kLatencyBucketsSeconds)
          out->add_latency_bucket_upper_seconds(bound);
        for (const std::int64_t count : m.latency_counts) out->add_latency_bucket_counts(count);
        out->set_latency_sum_seconds(m.latency_sum_seconds);
        out->set_latency_p50_seconds(m.LatencyQuantile(0.5));
        out->set_latency_p99_seconds(m.LatencyQuantile(0.99));
      }
      return grpc::Status::OK;
    });
  }

  grpc::Status CreateApiKey(grpc::ServerContext* context, const v1::CreateApiKeyRequest* request,
                            v1::CreateApiKeyResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/CreateApiKey", [&](Call&) {
      grpc::Status status;
      const std::optional<Role> role =
          request->role() >= v1::ROLE_PLATFORM && request->role() <= v1::ROLE_ADMIN
              ? std::optional<Role>(static_cast<Role>(request->role()))
              : std::nullopt;
      if (!role) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "role: not set or unknown");
      } else {
        absl::StatusOr<NewApiKey> key =
            s_->keys->Create(*role, request->label(), request->rate_per_second());
        if (key.ok()) {
          response->set_key_id(key->info.key_id);
          response->set_secret(key->secret);
        }
        status = ToGrpc(key.status());
      }
      return status;
    });
  }

  grpc::Status ListApiKeys(grpc::ServerContext* context, const v1::ListApiKeysRequest*,
                           v1::ListApiKeysResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/ListApiKeys", [&](Call&) {
      grpc::Status status;
      absl::StatusOr<std::vector<ApiKeyInfo>> keys = s_->keys->List();
      if (keys.ok()) {
        for (const ApiKeyInfo& k : *keys) {
          v1::ApiKeyInfo* out = response->add_keys();
          out->set_key_id(k.key_id);
          out->set_role(static_cast<v1::Role>(k.role));
          out->set_label(k.label);
          out->set_created_unix_ms(k.created_ms);
          out->set_revoked_unix_ms(k.revoked_ms);
        }
      }
      status = ToGrpc(keys.status());
      return status;
    });
  }

  grpc::Status RevokeApiKey(grpc::ServerContext* context, const v1::RevokeApiKeyRequest* request,
                            v1::RevokeApiKeyResponse*) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/RevokeApiKey",
                     [&](Call&) { return ToGrpc(s_->keys->Revoke(request->key_id())); });
  }

  grpc::Status VerifyAudit(grpc::ServerContext* context, const v1::VerifyAuditRequest*,
                           v1::VerifyAuditResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/VerifyAudit", [&](Call&) {
      grpc::Status status;
      absl::StatusOr<AuditVerification> v = s_->audit->Verify();
      if (v.ok()) {
        response->set_intact(v->intact);
        response->set_records(v->records);
        response->set_problem(v->problem);
      }
      status = ToGrpc(v.status());
      return status;
    });
  }

 private:
  Services::Impl* s_;
};

}  // namespace

Services::Services(index::Store* store, KeyTable* keys, AuditLog* audit, ServiceLimits limits)
    : impl_(std::make_unique<Impl>()) {
  impl_->store = store;
  impl_->keys = keys;
  impl_->audit = audit;
  impl_->limits = limits;
  impl_->match_service = std::make_unique<MatchServiceImpl>(impl_.get());
  impl_->ingest_service = std::make_unique<IngestServiceImpl>(impl_.get());
  impl_->admin_service = std::make_unique<AdminServiceImpl>(impl_.get());
}

Services::~Services() = default;

void Services::AttachMatcher(index::Matcher* matcher) {
  impl_->matcher.store(matcher, std::memory_order_release);
}
grpc::Service* Services::match_service() { return impl_->match_service.get(); }
grpc::Service* Services::ingest_service() { return impl_->ingest_service.get(); }
grpc::Service* Services::admin_service() { return impl_->admin_service.get(); }

bool Services::ready() const { return impl_->Matcher() != nullptr; }

std::string Services::PrometheusMetrics() const {
  return PrometheusText(impl_->metrics.Snapshot(), impl_->Gauges());
}

}  // namespace hashmatch::server

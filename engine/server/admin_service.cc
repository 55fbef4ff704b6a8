#include "engine/server/internal/services_impl.h"

namespace hashmatch::server {
namespace {

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

  grpc::Status AddAgencyKey(grpc::ServerContext* context, const v1::AddAgencyKeyRequest* request,
                            v1::AgencyKey* response) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/AddAgencyKey", [&](Call&) {
      absl::StatusOr<AgencyKey> key =
          s_->bundles->AddAgencyKey(request->agency(), request->public_key());
      if (key.ok()) FillAgencyKey(*key, response);
      return ToGrpc(key.status());
    });
  }

  grpc::Status ListAgencyKeys(grpc::ServerContext* context, const v1::ListAgencyKeysRequest*,
                              v1::ListAgencyKeysResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/ListAgencyKeys", [&](Call&) {
      absl::StatusOr<std::vector<AgencyKey>> keys = s_->bundles->ListAgencyKeys();
      if (keys.ok()) {
        for (const AgencyKey& k : *keys) FillAgencyKey(k, response->add_keys());
      }
      return ToGrpc(keys.status());
    });
  }

  grpc::Status RevokeAgencyKey(grpc::ServerContext* context,
                               const v1::RevokeAgencyKeyRequest* request,
                               v1::RevokeAgencyKeyResponse*) override {
    return s_->Serve(context, "/hashmatch.v1.AdminService/RevokeAgencyKey", [&](Call&) {
      return ToGrpc(s_->bundles->RevokeAgencyKey(request->fingerprint()));
    });
  }

 private:
  static void FillAgencyKey(const AgencyKey& in, v1::AgencyKey* out) {
    out->set_agency(in.agency);
    out->set_public_key(in.public_key);
    out->set_fingerprint(in.fingerprint);
    out->set_created_unix_ms(in.created_ms);
    out->set_revoked_unix_ms(in.revoked_ms);
  }

  Services::Impl* s_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAdminService(Services::Impl* s) {
  return std::make_unique<AdminServiceImpl>(s);
}

}  // namespace hashmatch::server

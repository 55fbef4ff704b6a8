#include <algorithm>

#include "engine/server/internal/bundle_import.h"
#include "engine/server/internal/services_impl.h"

namespace hashmatch::server {
namespace {

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

  grpc::Status ListDescriptors(grpc::ServerContext* context,
                               const v1::ListDescriptorsRequest* request,
                               v1::ListDescriptorsResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.IngestService/ListDescriptors",
                     [&](Call& call) { return RunList(call, *request, response); });
  }

  grpc::Status GetBundleUpload(grpc::ServerContext* context,
                               const v1::GetBundleUploadRequest* request,
                               v1::BundleUpload* response) override {
    return s_->Serve(context, "/hashmatch.v1.IngestService/GetBundleUpload", [&](Call& call) {
      absl::StatusOr<std::int64_t> staged =
          s_->bundles->StagedBytes(call.key.key_id, request->file_sha256());
      if (!staged.ok()) return ToGrpc(staged.status());
      response->set_received_bytes(*staged);
      absl::StatusOr<std::optional<BundleImport>> imported =
          s_->bundles->FindImport(request->file_sha256(), StatusAddedBy(call));
      if (!imported.ok()) return ToGrpc(imported.status());
      if (*imported) FillImport(**imported, response->mutable_imported());
      return grpc::Status::OK;
    });
  }

  grpc::Status PushBundle(grpc::ServerContext* context,
                          grpc::ServerReader<v1::PushBundleRequest>* reader,
                          v1::PushBundleResponse* response) override {
    return s_->Serve(context, "/hashmatch.v1.IngestService/PushBundle",
                     [&](Call& call) { return RunPush(call, reader, response); });
  }

 private:
  static DescriptorStatus StatusAddedBy(const Call& call) {
    return StatusOfDescriptorsAddedBy(call.key.role);
  }

  grpc::Status RunList(Call& call, const v1::ListDescriptorsRequest& request,
                       v1::ListDescriptorsResponse* response) {
    constexpr int kMaxPage = 10'000;
    if (request.status() < v1::DESCRIPTOR_STATUS_CANDIDATE ||
        request.status() > v1::DESCRIPTOR_STATUS_RETRACTED) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "status: not set or unknown");
    }
    if (request.page_size() < 0 || request.page_size() > kMaxPage) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("page_size: ", request.page_size(), " is outside 0..", kMaxPage));
    }
    if (request.category().size() > 1024) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "category: longer than the limit of 1 024 bytes");
    }
    const int page = request.page_size() == 0 ? 1'000 : request.page_size();
    absl::StatusOr<std::vector<index::Descriptor>> found =
        s_->store->List(static_cast<DescriptorStatus>(request.status()), request.category(),
                        request.after_id(), static_cast<std::size_t>(page));
    if (!found.ok()) return ToGrpc(found.status());
    for (const index::Descriptor& d : *found) {
      FillDescriptor(d, call.key.role == Role::kPolice, response->add_descriptors());
    }
    call.items = static_cast<std::int64_t>(found->size());
    if (static_cast<int>(found->size()) == page) response->set_next_after_id(found->back().id);
    return grpc::Status::OK;
  }

  grpc::Status RunPush(Call& call, grpc::ServerReader<v1::PushBundleRequest>* reader,
                       v1::PushBundleResponse* response) {
    constexpr std::size_t kMaxChunk = std::size_t{1} << 20;
    v1::PushBundleRequest message;
    if (!reader->Read(&message)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "empty stream: the first message names the bundle");
    }
    const std::string file_sha256 = message.file_sha256();
    absl::StatusOr<std::unique_ptr<BundleInbox::Upload>> upload =
        s_->bundles->Claim(call.key.key_id, file_sha256);
    if (!upload.ok()) return ToGrpc(upload.status());
    if (message.offset() != (*upload)->size()) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("offset: ", message.offset(), " but ", (*upload)->size(),
                                       " bytes are staged; resume from there"));
    }
    bool finish = false;
    for (std::int64_t i = 0;; ++i) {
      s_->RestartDeadline(&call);
      if (message.data().size() > kMaxChunk) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("message ", i, ": data is ", message.data().size(),
                                         " bytes; the limit is ", kMaxChunk));
      }
      if (absl::Status appended = (*upload)->Append(message.data()); !appended.ok()) {
        return ToGrpc(appended);
      }
      finish = message.finish();
      if (finish || !reader->Read(&message)) break;
    }
    response->set_received_bytes((*upload)->size());
    if (!finish) return grpc::Status::OK;  // staged; the client resumes later
    return Import(call, file_sha256, **upload, response);
  }

  // Checks the staged bundle whole (structure, id, signer, signature), then adds its records.
  // A refused bundle is discarded: a clean re-push starts from byte 0.
  grpc::Status Import(Call& call, const std::string& file_sha256, BundleInbox::Upload& upload,
                      v1::PushBundleResponse* response) {
    const DescriptorStatus status = StatusAddedBy(call);
    absl::StatusOr<std::optional<BundleImport>> earlier =
        s_->bundles->FindImport(file_sha256, status);
    if (!earlier.ok()) return ToGrpc(earlier.status());
    if (*earlier) {
      upload.Discard();
      response->set_received_bytes(0);
      response->set_already_imported(true);
      FillImport(**earlier, response->mutable_imported());
      return grpc::Status::OK;
    }
    absl::StatusOr<std::string> bytes = upload.ReadAll();
    if (!bytes.ok()) return ToGrpc(bytes.status());
    BundleImportRequest request;
    request.file_sha256 = file_sha256;
    request.key_id = call.key.key_id;
    request.status = status;
    request.batch_size = static_cast<std::size_t>(std::max(1, s_->limits.max_batch));
    request.before_batch = [&] { s_->RestartDeadline(&call); };
    request.after_batch = [&] {
      if (index::Matcher* m = s_->Matcher()) m->CatchUp().IgnoreError();  // the merger retries
    };
    const BundleImportResult result = ImportBundle(*bytes, request, *s_->bundles, *s_->store);
    call.items = result.import.records;
    if (result.refused) upload.Discard();  // a clean re-push starts from byte 0
    if (!result.status.ok()) return ToGrpc(result.status);
    const BundleImport& import = result.import;
    upload.Discard();
    response->set_received_bytes(0);
    FillImport(import, response->mutable_imported());
    return grpc::Status::OK;
  }

  grpc::Status RunAdd(
      Call& call,
      grpc::ServerReaderWriter<v1::AddDescriptorsResponse, v1::AddDescriptorsRequest>* stream) {
    const DescriptorStatus status = StatusAddedBy(call);
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
        return ToGrpc(added.status(), where + ": ");
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
    absl::StatusOr<std::int64_t> seq = s_->store->SetStatus(request.descriptor_id(), *FromProto(to),
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

}  // namespace

std::unique_ptr<grpc::Service> MakeIngestService(Services::Impl* s) {
  return std::make_unique<IngestServiceImpl>(s);
}

}  // namespace hashmatch::server

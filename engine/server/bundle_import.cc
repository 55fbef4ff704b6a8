#include "engine/server/internal/bundle_import.h"

#include <openssl/sha.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/bundle/bundle.h"
#include "engine/sys/sys.h"

namespace hashmatch::server {
namespace {

namespace v1 = ::hashmatch::v1;

BundleImportResult Refused(const absl::Status& why) {
  BundleImportResult result;
  result.refused = true;
  result.status = Prefixed(why, "bundle refused, nothing added: ");
  return result;
}

}  // namespace

BundleImportResult ImportBundle(std::string_view bytes, const BundleImportRequest& request,
                                BundleInbox& inbox, index::Store& store) {
  Sha256 received;
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), received.bytes.data());
  if (received.ToHex() != request.file_sha256) {
    return Refused(
        absl::DataLossError(absl::StrCat("the ", bytes.size(),
                                         " bytes received do not hash to file_sha256 (damaged in "
                                         "transit, or another file); send the whole file again")));
  }
  absl::StatusOr<bundle::Bundle> checked = bundle::ScanBundle(bytes, {}, nullptr);
  if (!checked.ok()) return Refused(checked.status());
  if (!checked->signature) {
    return Refused(absl::PermissionDeniedError(
        "it is not signed (hashmatch-ingest sign BUNDLE --key PREFIX.key)"));
  }
  const std::string& signer = checked->signature->public_key();
  absl::StatusOr<std::optional<AgencyKey>> agency_key = inbox.ActiveAgencyKey(signer);
  if (!agency_key.ok()) return {false, agency_key.status(), {}};
  if (!*agency_key) {
    return Refused(absl::PermissionDeniedError(
        absl::StrCat("its signer ", bundle::KeyFingerprint(signer),
                     " is not a registered agency key (hashmatch keys add-agency)")));
  }
  if ((*agency_key)->agency != checked->header.agency()) {
    return Refused(absl::PermissionDeniedError(
        absl::StrCat("header.agency is \"", checked->header.agency(),
                     "\" but its signing key is registered to \"", (*agency_key)->agency, "\"")));
  }
  if (absl::Status verified = bundle::VerifyBundle(*checked, signer); !verified.ok()) {
    return Refused(absl::PermissionDeniedError(std::string(verified.message())));
  }

  BundleImportResult result;
  BundleImport& import = result.import;
  import.bundle_id = checked->header.bundle_id();
  import.status = request.status;
  import.agency = checked->header.agency();
  import.signer_fingerprint = (*agency_key)->fingerprint;
  const index::Contribution contribution{checked->header.agency(), checked->header.case_ref(),
                                         request.key_id, import.bundle_id};
  std::vector<index::NewDescriptor> batch;
  const auto flush = [&]() -> absl::Status {
    if (batch.empty()) return absl::OkStatus();
    if (request.before_batch) request.before_batch();
    HM_ASSIGN_OR_RETURN(index::AddResult added, store.Add(contribution, batch));
    for (const index::AddResult::Outcome o : added.outcomes) {
      ++(o == index::AddResult::Outcome::kAdded ? import.added : import.merged);
    }
    import.commit_seq = added.commit_seq;
    import.records += static_cast<std::int64_t>(batch.size());
    batch.clear();
    if (request.after_batch) request.after_batch();
    return absl::OkStatus();
  };
  const std::size_t batch_size = std::max<std::size_t>(1, request.batch_size);
  // Records were checked by the scan above; the second scan only hands them over.
  absl::StatusOr<bundle::Bundle> applied =
      bundle::ScanBundle(bytes, {}, [&](const v1::BundleRecord& r, std::int64_t) -> absl::Status {
        const v1::HashValue& h = r.hash();
        batch.push_back({static_cast<Signal>(h.signal()), h.raw(),
                         h.has_quality() ? h.quality() : -1, r.category(), request.status});
        return batch.size() == batch_size ? flush() : absl::OkStatus();
      });
  const absl::Status done = applied.ok() ? flush() : applied.status();
  if (!done.ok()) {
    // Batches before the failure are committed; a re-push adds the rest (adds are idempotent).
    result.status =
        Prefixed(done, absl::StrCat("import stopped after ", import.records, " records: "));
    return result;
  }
  import.imported_ms = sys::NowMs();
  result.status = inbox.RecordImport(request.file_sha256, request.key_id, import);
  return result;
}

}  // namespace hashmatch::server

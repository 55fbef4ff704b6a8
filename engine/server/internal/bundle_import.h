// engine/server/internal/bundle_import: importing one staged, signed descriptor bundle into the
// store. No gRPC: the PushBundle handler stages the bytes and maps the result.
//
// The whole bundle is checked first (the bytes hash to the announced file SHA-256, structure,
// content id, signed by a registered agency key whose agency is the bundle's, signature); only
// then are its records added, in batches. Internal to engine/server. Thread-compatible: call it
// once per bundle; the store and inbox are thread-safe.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "engine/server/internal/bundles.h"
#include "index/store.h"

namespace hashmatch::server {

struct BundleImportRequest {
  std::string file_sha256;  // hex, as the client announced it
  std::string key_id;       // the calling API key (provenance)
  DescriptorStatus status =
      DescriptorStatus::kCandidate;  // what the records become (StatusOfDescriptorsAddedBy)
  std::size_t batch_size = 10'000;
  // Called before each batch is added (e.g. to restart the call's time limit) and after it is
  // committed (e.g. to let the matcher catch up).
  std::function<void()> before_batch, after_batch;
};

struct BundleImportResult {
  // Set when the import failed: true when the bundle was refused before anything was added
  // (DATA_LOSS for damaged bytes, PERMISSION_DENIED for signature problems): the staged file
  // should be discarded. False when an add failed after earlier batches were committed.
  bool refused = false;
  absl::Status status;
  BundleImport import;  // what was imported (the batches committed so far on failure)
};

// Checks and imports `bytes`. The returned status's message says why a bundle was refused ("bundle
// refused, nothing added: ...") or where the import stopped ("import stopped after N records").
BundleImportResult ImportBundle(std::string_view bytes, const BundleImportRequest& request,
                                BundleInbox& inbox, index::Store& store);

}  // namespace hashmatch::server

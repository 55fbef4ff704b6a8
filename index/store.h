// index/store: the durable record of what is known.
//
// Owns the descriptors (signal, value, quality, category, status), their provenance, and an
// append-only change log whose sequence numbers let an in-memory index (matcher.h) follow the
// store: rebuild from ScanAll, then apply ChangesAfter(seq). Every write is one transaction and
// returns only after it is durable; a batch is all-or-nothing. The same signal + value sent again
// (by anyone) is the same descriptor: the second contribution adds provenance, not a row.
//
// Embedded implementation: SQLite (WAL, synchronous=FULL), schema versioned with migrations.
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/core/core.h"

namespace hashmatch::index {

using DescriptorId = std::int64_t;

// Who sent a batch, and from where. Case references are police-only data: never log them.
struct Contribution {
  std::string agency;
  std::string case_ref;
  std::string contributor;  // the contributor's key id
  std::string bundle_id;    // empty when not from a signed bundle
};

struct NewDescriptor {
  Signal signal = Signal::kPdq;
  std::string value;  // raw bytes, SignalValueBytes(signal) long (VPDQ: its own encoding)
  int quality = -1;   // PDQ quality 0..100; -1 when the signal has none
  std::string category;
  DescriptorStatus status = DescriptorStatus::kCandidate;
};

struct Provenance {
  Contribution contribution;
  std::int64_t added_ms = 0;  // Unix time of the commit
};

struct Descriptor {
  DescriptorId id = 0;
  Signal signal = Signal::kPdq;
  std::string value;
  int quality = -1;
  std::string category;
  DescriptorStatus status = DescriptorStatus::kCandidate;
  std::int64_t created_ms = 0;
  std::int64_t status_changed_ms = 0;  // 0: never changed after creation
  std::string status_changed_by;
  std::string status_reason;
  std::vector<Provenance> provenance;  // oldest first
};

struct AddResult {
  enum class Outcome { kAdded, kMerged };  // kMerged: already known, provenance added
  std::vector<DescriptorId> ids;           // one per item, in order
  std::vector<Outcome> outcomes;
  std::int64_t commit_seq = 0;  // the change-log position after this batch
};

// One change-log record with what an index needs to apply it.
struct Change {
  enum class Kind : std::uint8_t { kAdded = 1, kStatusChanged = 2 };
  std::int64_t seq = 0;
  Kind kind = Kind::kAdded;
  DescriptorId id = 0;
  Signal signal = Signal::kPdq;
  std::string value;
  int quality = -1;
  DescriptorStatus status = DescriptorStatus::kCandidate;  // the status after this change
};

struct StoreLimits {
  std::size_t max_batch = 100'000;        // items per Add
  std::size_t max_value_bytes = 1 << 20;  // VPDQ values; fixed-size signals are exact
  std::size_t max_text_bytes = 1024;      // category, agency, case reference, reason, ...
};

class Store {
 public:
  virtual ~Store() = default;

  // Adds a batch with one provenance. All-or-nothing: an invalid item fails the whole batch with
  // InvalidArgument naming its index and field, and nothing is written. A known value keeps its
  // id, status and category and gains this provenance; a CANDIDATE re-sent as VERIFIED becomes
  // VERIFIED. Returns after the commit is durable.
  [[nodiscard]] virtual absl::StatusOr<AddResult> Add(const Contribution& contribution,
                                                      std::span<const NewDescriptor> items) = 0;

  // Review: verify/reject a CANDIDATE, retract a CANDIDATE or VERIFIED descriptor. Setting the
  // current status again is a no-op. Returns the commit sequence. NotFound for an unknown id,
  // FailedPrecondition for a transition the rules forbid.
  [[nodiscard]] virtual absl::StatusOr<std::int64_t> SetStatus(DescriptorId id,
                                                               DescriptorStatus status,
                                                               std::string_view actor,
                                                               std::string_view reason) = 0;

  [[nodiscard]] virtual absl::StatusOr<Descriptor> Get(DescriptorId id) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::optional<Descriptor>> Find(Signal signal,
                                                                       std::string_view value) = 0;

  // Descriptors with `status` (and `category`, unless empty) and id > after_id, in id order, at
  // most `limit`: review queues and exports, a page at a time.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Descriptor>> List(DescriptorStatus status,
                                                                     std::string_view category,
                                                                     DescriptorId after_id,
                                                                     std::size_t limit) = 0;

  // Changes with seq > after_seq, ascending, at most `limit`.
  [[nodiscard]] virtual absl::StatusOr<std::vector<Change>> ChangesAfter(std::int64_t after_seq,
                                                                         std::size_t limit) = 0;
  // Calls visit with every descriptor's current state as a kAdded change (seq = 0), in id order,
  // inside one read transaction; returns the log position that state reflects.
  [[nodiscard]] virtual absl::StatusOr<std::int64_t> ScanAll(
      const std::function<void(const Change&)>& visit) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::int64_t> LastSeq() = 0;

  // Counts by (signal, status, category): for stats pages and tests. Scans the table.
  struct Count {
    Signal signal;
    DescriptorStatus status;
    std::string category;
    std::int64_t count;
  };
  [[nodiscard]] virtual absl::StatusOr<std::vector<Count>> Counts() = 0;

  // A random id made when the store was created: ties snapshots to their store.
  virtual const std::string& store_id() const = 0;
};

// Opens (creating if missing) the SQLite store at `path`, migrating an older schema. A file that
// is not a hashmatch store, or one from a newer version, is an error, never overwritten.
// One process at a time: the store locks `<path>.lock` (FailedPrecondition if another process
// holds it), because duplicates are found through an in-memory index of every value (16 bytes
// per slot; built on the first Add or Find: ~3 s for 10 M rows on 2 cores).
[[nodiscard]] absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(
    const std::string& path, const StoreLimits& limits = {});

}  // namespace hashmatch::index

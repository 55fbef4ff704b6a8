// index/internal/sqlite_store: the embedded Store's class: one SQLite connection in WAL mode with
// synchronous=FULL, guarded by a mutex (SQLite serialises writers anyway; readers are short), and
// an in-memory value index for duplicate detection (value_index.h). The value index is only right
// while this process is the store's only writer, so opening takes an exclusive lock on
// `<path>.lock`. Writes and opening are in index/sqlite_store.cc, reads in
// internal/sqlite_store_read.cc. Internal to index/; see store.h for the contract.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sqlite/sqlite.h"
#include "engine/sys/sys.h"
#include "index/internal/value_index.h"
#include "index/store.h"

namespace hashmatch::index::internal {

class SqliteStore final : public Store {
 public:
  SqliteStore(sys::WriterLock lock, sqlite::SqliteHandle db, StoreLimits limits,
              std::string store_id)
      : lock_(std::move(lock)),
        db_(std::move(db)),
        limits_(limits),
        store_id_(std::move(store_id)) {}

  [[nodiscard]] absl::Status Prepare();

  [[nodiscard]] absl::StatusOr<AddResult> Add(const Contribution& contribution,
                                              std::span<const NewDescriptor> items) override;

  [[nodiscard]] absl::StatusOr<std::int64_t> SetStatus(DescriptorId id, DescriptorStatus status,
                                                       std::string_view actor,
                                                       std::string_view reason) override;

  [[nodiscard]] absl::StatusOr<Descriptor> Get(DescriptorId id) override;

  [[nodiscard]] absl::StatusOr<std::optional<Descriptor>> Find(Signal signal,
                                                               std::string_view value) override;

  [[nodiscard]] absl::StatusOr<std::vector<Descriptor>> List(DescriptorStatus status,
                                                             std::string_view category,
                                                             DescriptorId after_id,
                                                             std::size_t limit) override;

  [[nodiscard]] absl::StatusOr<std::vector<Change>> ChangesAfter(std::int64_t after_seq,
                                                                 std::size_t limit) override;

  [[nodiscard]] absl::StatusOr<std::int64_t> ScanAll(
      const std::function<void(const Change&)>& visit) override;

  [[nodiscard]] absl::StatusOr<std::int64_t> LastSeq() override;

  [[nodiscard]] absl::StatusOr<std::vector<Count>> Counts() override;

  const std::string& store_id() const override { return store_id_; }

 private:
  [[nodiscard]] absl::StatusOr<AddResult> AddLocked(const Contribution& contribution,
                                                    std::span<const NewDescriptor> items);

  struct Existing {
    DescriptorId id;
    DescriptorStatus status;
    std::int64_t first_contribution;
  };

  [[nodiscard]] absl::StatusOr<std::optional<Existing>> FindExisting(Signal signal,
                                                                     std::string_view value);

  // The value index proposes ids; the row decides (a 64-bit hash collision costs one read).
  [[nodiscard]] absl::StatusOr<std::optional<Existing>> FindExisting(Signal signal,
                                                                     std::string_view value,
                                                                     std::uint64_t hash);

  // Built on first use rather than at open, so that opening the store for matching alone (the
  // matcher reads the change log) does not pay a scan of every row.
  [[nodiscard]] absl::Status LoadValueIndex();

  [[nodiscard]] absl::StatusOr<std::int64_t> ContributionId(const Contribution& c);

  [[nodiscard]] absl::Status AppendChange(DescriptorId id, Change::Kind kind,
                                          DescriptorStatus status, std::int64_t now);

  [[nodiscard]] absl::Status WriteStatus(DescriptorId id, DescriptorStatus status,
                                         std::string_view actor, std::string_view reason);

  [[nodiscard]] absl::StatusOr<std::int64_t> LastSeqLocked();

  [[nodiscard]] absl::StatusOr<std::int64_t> ScanLocked(
      const std::function<void(const Change&)>& visit);

  template <typename BindFn>
  [[nodiscard]] absl::StatusOr<std::optional<Descriptor>> Load(const char* where, BindFn bind);

  const sys::WriterLock lock_;
  std::mutex mu_;  // guards everything below (SQLite serialises writers anyway)
  sqlite::SqliteHandle db_;
  internal::ValueIndex values_;
  bool values_loaded_ = false;
  const StoreLimits limits_;
  const std::string store_id_;
  std::optional<sqlite::Statement> insert_descriptor_;
  std::optional<sqlite::Statement> row_by_id_;
  std::optional<sqlite::Statement> insert_change_;
  std::optional<sqlite::Statement> insert_provenance_;
  std::optional<sqlite::Statement> update_status_;
  std::optional<sqlite::Statement> last_seq_;
};

}  // namespace hashmatch::index::internal

// MihIndex's snapshot form: Save and Load (table sizes checked here; the snapshot file's CRC
// covers the rest).
#include "absl/strings/str_cat.h"
#include "engine/core/core.h"
#include "index/internal/binary_io.h"
#include "index/internal/mih_index.h"

namespace hashmatch::index::internal {

void MihIndex::Save(BinaryWriter& out) const {
  out.Pod(kSaveMagic);
  out.Pod<std::int32_t>(chunks());
  out.Pod<std::int32_t>(table_bits_);
  out.Pod<std::int32_t>(id_bytes_);
  out.Vector(codes_);
  out.Vector(labels_);
  for (const Table& t : tables_) {
    out.Vector(t.lines);
    out.Vector(t.wide);
    out.Vector(t.ids);
  }
}

absl::StatusOr<std::unique_ptr<MihIndex>> MihIndex::Load(BinaryReader& in) {
  std::uint32_t magic = 0;
  std::int32_t chunks = 0, table_bits = 0, id_bytes = 0;
  if (in.Pod(&magic, "MIH magic") && magic != kSaveMagic) in.Fail("MIH magic", "is wrong");
  in.Pod(&chunks, "MIH chunks");
  in.Pod(&table_bits, "MIH table bits");
  in.Pod(&id_bytes, "MIH id bytes");
  HM_RETURN_IF_ERROR(in.status());
  if (chunks < 8 || chunks > 32 || table_bits < 0 || table_bits > 32 ||
      (id_bytes != 3 && id_bytes != 4)) {
    return absl::DataLossError(absl::StrCat("MIH header out of range: chunks ", chunks,
                                            ", table bits ", table_bits, ", id bytes ", id_bytes));
  }
  auto index = std::make_unique<MihIndex>(chunks);
  index->table_bits_ = table_bits;
  index->id_bytes_ = id_bytes;
  const std::uint64_t limit = in.remaining();
  in.Vector(&index->codes_, limit, "MIH codes");
  in.Vector(&index->labels_, limit, "MIH labels");
  const std::size_t n = index->labels_.size();
  const std::size_t lines =
      ((std::size_t{1} << table_bits) + kBucketsPerLine - 1) / kBucketsPerLine;
  for (int c = 0; c < chunks && in.status().ok(); ++c) {
    Table& t = index->tables_.emplace_back();
    in.Vector(&t.lines, limit, "MIH offset lines");
    in.Vector(&t.wide, limit, "MIH wide offsets");
    in.Vector(&t.ids, limit, "MIH ids");
    if (in.status().ok() &&
        (t.lines.size() != lines || t.wide.size() % (kBucketsPerLine + 1) != 0 ||
         t.ids.size() != (c == 0 ? 0 : n * id_bytes + 1))) {
      in.Fail("MIH table", absl::StrCat("of chunk ", c, " has inconsistent sizes"));
    }
  }
  HM_RETURN_IF_ERROR(in.status());
  if (index->codes_.size() != n * kCodeBytes) {
    return absl::DataLossError("MIH codes and labels differ in count");
  }
  // Offsets and ids are not range-checked here: the snapshot reader verifies the file's checksum
  // after parsing and discards everything on a mismatch, before any lookup can use them.
  index->ntotal = static_cast<idx_t>(n);
  return index;
}

}  // namespace hashmatch::index::internal

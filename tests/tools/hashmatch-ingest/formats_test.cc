// The exchange formats against real sample files (testdata/interop) and hand-made bad input:
// every rejected line or record is named, and import → export → import keeps the records.
#include "tools/hashmatch-ingest/formats.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/testing/temp_dir.h"

namespace hashmatch::ingest {
namespace {

std::string Write(const hashmatch::testing::TempDir& dir, const std::string& name,
                  const std::string& text) {
  const std::string path = dir.File(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

ImportResult Import(const std::string& path, ListFormat format, ImportOptions options = {}) {
  absl::StatusOr<ImportResult> result = ImportList(path, format, options);
  REQUIRE(result.ok());
  return *std::move(result);
}

std::string Problems(const ImportResult& r) {
  std::string all;
  for (const ImportProblem& p : r.problems) all += p.where + ": " + p.reason + "\n";
  return all;
}

const std::string kPdqHex = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22";

TEST_CASE("vics-json: the real distribution sample, Category 0 skipped unless kept",
          "[tools][formats]") {
  const std::string path = std::string(HM_TESTDATA_DIR) + "/interop/vics/example-VIC-data.json";
  const ImportResult skipped = Import(path, ListFormat::kVicsJson);
  CHECK(skipped.records.empty());
  CHECK(skipped.problems.empty());
  REQUIRE(skipped.notes.size() == 1);
  CHECK_THAT(skipped.notes[0], Catch::Contains("2 records of Category 0"));

  ImportOptions keep;
  keep.keep_non_pertinent = true;
  const ImportResult kept = Import(path, ListFormat::kVicsJson, keep);
  REQUIRE(kept.records.size() == 3);  // record 1: MD5; record 2: MD5 and SHA1
  CHECK(kept.records[0].signal == Signal::kMd5);
  CHECK(EncodeHex(kept.records[0].value) == "adebf3fa3c9be7f73825e1cb9e2dea09");
  CHECK(kept.records[2].signal == Signal::kSha1);
  CHECK(EncodeHex(kept.records[2].value) == "1407c5674dc7da55419c64c5375907991ec6011f");
  CHECK(kept.records[2].category == "0");
}

TEST_CASE("vics-json: bad records are named by JSON path and the rest are kept",
          "[tools][formats]") {
  hashmatch::testing::TempDir dir;
  const std::string photodna(192, 'A');  // base64 of 144 zero bytes
  const std::string path = Write(
      dir, "v.json",
      "\xEF\xBB\xBF{\"@odata.context\":\"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/"
      "2.0.xml/US/$metadata#Media\",\"value\":["
      "{\"MediaID\":1,\"Category\":1,\"MD5\":\"0123456789ABCDEF0123456789ABCDEF\"},"
      "{\"MediaID\":2,\"Category\":1,\"MD5\":\"0123\"},"
      "{\"MediaID\":3,\"Category\":1},"
      "{\"MediaID\":4,\"Category\":\"x\",\"MD5\":\"00000000000000000000000000000000\"},"
      "{\"MediaID\":5,\"Category\":2,\"MD5\":\"11111111111111111111111111111111\","
      "\"Segments\":[{\"Category\":0}],\"AlternativeHashes\":[{\"HashName\":\"PhotoDNA\","
      "\"HashValue\":\"" +
          photodna +
          "\"}],\"IsPrecategorized\":\"false\"},"
          "{\"MediaID\":6,\"Category\":2,\"MD5\":\"22222222222222222222222222222222\","
          "\"PhotoDNA\":\"short\"}]}");
  const ImportResult r = Import(path, ListFormat::kVicsJson);
  CHECK(Problems(r) ==
        "$.value[1].MD5: 4 characters; MD5 is 32 hex digits\n"
        "$.value[2].MD5: missing (every VICS Media record is keyed by its MD5)\n"
        "$.value[3].Category: \"x\" is not a number 0..255\n"
        "$.value[5].PhotoDNA: not 144 bytes in base64 (192 characters)\n");
  REQUIRE(r.records.size() == 3);
  CHECK(r.records[0].category == "1");
  CHECK(r.records[2].signal == Signal::kPhotoDna);
  CHECK(r.records[2].value == std::string(144, '\0'));

  CHECK(ImportList(Write(dir, "cases.json", "{\"@odata.context\":\"x#Cases\",\"value\":[]}"),
                   ListFormat::kVicsJson, {})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  const absl::Status broken =
      ImportList(Write(dir, "broken.json", "{\"value\":[{\"MD5\":"), ListFormat::kVicsJson, {})
          .status();
  CHECK_THAT(std::string(broken.message()), Catch::Contains("not valid JSON at byte"));
  CHECK_THAT(
      std::string(ImportList(Write(dir, "n.json", "{\"value\":[]}"), ListFormat::kVicsJson, {})
                      .status()
                      .message()),
      Catch::Contains("not a VICS file"));
}

TEST_CASE("te-csv and hma-csv: line numbers, quoting, categories from tags", "[tools][formats]") {
  hashmatch::testing::TempDir dir;
  const std::string te =
      Write(dir, "te.csv",
            "signal_type,signal_str,collab,category,tags\r\n"
            "pdq," +
                kPdqHex +
                ",c,POSITIVE_CLASS,A\r\n"
                "pdq,\"" +
                kPdqHex.substr(0, 63) +
                "\",c,POSITIVE_CLASS,A\r\n"
                "pdq," +
                std::string(64, 'g') +
                ",c,POSITIVE_CLASS,A\r\n"
                "video_md5,d41d8cd98f00b204e9800998ecf8427e,c,INVESTIGATION_SEED,B\r\n"
                "video_sha256,00,c\r\n"
                "pdq," +
                kPdqHex +
                ",c,POSITIVE_CLASS,\"two tags\"\r\n"
                "\r\n"
                "pdq,\"unterminated\r\n");
  const ImportResult r = Import(te, ListFormat::kTeCsv);
  CHECK(Problems(r) ==
        "line 3: signal_str: 63 characters; PDQ is 64 hex digits\n"
        "line 4: signal_str: 'g' at position 0 is not a hex digit\n"
        "line 6: 3 fields; te-csv has 5: signal_type,signal_str,collab,category,tags\n"
        "line 7: tags: \"two tags\" is not one tag to use as the category; give --category\n"
        "line 9: unterminated quoted field\n");
  REQUIRE(r.records.size() == 2);
  CHECK(r.records[0].quality == 100);
  CHECK(r.records[1].signal == Signal::kMd5);
  CHECK(r.records[1].category == "B");

  ImportOptions category;
  category.category = "C";
  const std::string hma =
      Write(dir, "hma.csv", kPdqHex + ",1,2,2021-01-01,A\n" + kPdqHex + ",1,2\n");
  const ImportResult h = Import(hma, ListFormat::kHmaCsv, category);
  CHECK(Problems(h) ==
        "line 2: 3 fields; hma-csv has 5: pdq,indicator_id,descriptor_id,added_on,labels\n");
  REQUIRE(h.records.size() == 1);
  CHECK(h.records[0].category == "C");
}

TEST_CASE("digest-list: lengths pick the signal, comments and blanks are skipped",
          "[tools][formats]") {
  hashmatch::testing::TempDir dir;
  const std::string path =
      Write(dir, "d.txt",
            "# known files\n"
            "D41D8CD98F00B204E9800998ECF8427E\n"
            "da39a3ee5e6b4b0d3255bfef95601890afd80709  # empty file\n"
            "\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "abc\n"
            "d41d8cd98f00b204e9800998ecf8427e\n");
  CHECK(ImportList(path, ListFormat::kDigestList, {}).status().code() ==
        absl::StatusCode::kInvalidArgument);  // no --category
  ImportOptions options;
  options.category = "A";
  const ImportResult r = Import(path, ListFormat::kDigestList, options);
  CHECK(Problems(r) ==
        "line 6: 3 characters; a digest is 32 (MD5), 40 (SHA-1) or 64 (SHA-256) hex digits\n");
  REQUIRE(r.records.size() == 3);
  CHECK(r.records[0].signal == Signal::kMd5);
  CHECK(r.records[1].signal == Signal::kSha1);
  CHECK(r.records[2].signal == Signal::kSha256);
  CHECK(r.duplicates == 1);
}

TEST_CASE("import then export then import gives the same records in every format",
          "[tools][formats]") {
  hashmatch::testing::TempDir dir;
  const std::vector<std::pair<ListFormat, std::string>> inputs = {
      {ListFormat::kTeCsv, "signal_type,signal_str,collab,category,tags\r\npdq," + kPdqHex +
                               ",c,POSITIVE_CLASS,A\r\npdq," + std::string(64, '0') +
                               ",c,POSITIVE_CLASS,B\r\n"},
      {ListFormat::kHmaCsv, kPdqHex + ",1,1,,A\n" + std::string(64, '1') + ",2,2,,B\n"},
      {ListFormat::kDigestList,
       "d41d8cd98f00b204e9800998ecf8427e\nda39a3ee5e6b4b0d3255bfef95601890afd80709\n"},
      {ListFormat::kVicsJson,
       "{\"@odata.context\":\"x#Media\",\"value\":[{\"MD5\":\"0123456789ABCDEF0123456789ABCDEF\","
       "\"Category\":1},{\"MD5\":\"11111111111111111111111111111111\",\"Category\":2}]}"},
  };
  for (const auto& [format, text] : inputs) {
    INFO(ListFormatName(format));
    ImportOptions options;
    if (format == ListFormat::kDigestList) options.category = "A";
    const ImportResult first = Import(Write(dir, "in", text), format, options);
    REQUIRE(first.problems.empty());
    REQUIRE(first.records.size() == 2);
    const std::string out_path = dir.File("out");
    std::FILE* out = std::fopen(out_path.c_str(), "w");
    std::unique_ptr<ListWriter> writer = MakeListWriter(format, out);
    for (const ListRecord& r : first.records) CHECK(writer->Write(r));
    REQUIRE(writer->Finish().ok());
    std::fclose(out);
    CHECK(writer->Skipped().empty());
    const ImportResult second = Import(out_path, format, options);
    CHECK(second.problems.empty());
    REQUIRE(second.records.size() == first.records.size());
    for (std::size_t i = 0; i < first.records.size(); ++i) {
      CHECK(second.records[i].signal == first.records[i].signal);
      CHECK(second.records[i].value == first.records[i].value);
      CHECK(second.records[i].category == first.records[i].category);
    }
  }
}

TEST_CASE("CSV writers quote a category holding a comma or a quote", "[tools][formats]") {
  hashmatch::testing::TempDir dir;
  const std::string category = "A,\"1\"";
  const ListRecord record{Signal::kPdq, std::string(32, '\x5a'), 100, category};
  for (const ListFormat format : {ListFormat::kTeCsv, ListFormat::kHmaCsv}) {
    INFO(ListFormatName(format));
    const std::string path = dir.File("quoted");
    std::FILE* out = std::fopen(path.c_str(), "w");
    std::unique_ptr<ListWriter> writer = MakeListWriter(format, out);
    REQUIRE(writer->Write(record));
    REQUIRE(writer->Finish().ok());
    std::fclose(out);
    const ImportResult back = Import(path, format, {});
    CHECK(back.problems.empty());
    REQUIRE(back.records.size() == 1);
    CHECK(back.records[0].category == category);
    CHECK(back.records[0].value == record.value);
  }
}

TEST_CASE("a writer counts what its format cannot carry", "[tools][formats]") {
  hashmatch::testing::TempDir dir;
  const std::string path = dir.File("out");
  std::FILE* out = std::fopen(path.c_str(), "w");
  std::unique_ptr<ListWriter> writer = MakeListWriter(ListFormat::kTeCsv, out);
  CHECK_FALSE(writer->Write({Signal::kSha1, std::string(20, 'x'), -1, "A"}));
  REQUIRE(writer->Finish().ok());
  std::fclose(out);
  REQUIRE(writer->Skipped().size() == 1);
  CHECK_THAT(writer->Skipped()[0], Catch::StartsWith("1 SHA1 descriptors not written"));
}

}  // namespace
}  // namespace hashmatch::ingest

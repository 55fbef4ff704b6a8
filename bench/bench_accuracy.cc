// bench_accuracy: how many edited copies of known images match, plain PDQ next to the robust
// lookups of engine/describe (the query's 8 dihedral hashes, and the hashes of the content inside
// uniform borders on both sides), and how many unrelated images match, from the same run.
//
// Known: the public images (testdata/pdq/images). Queries: their edited copies
// (testdata/pdq/variants, one family per transform in variants.tsv). Distractors: every
// decodable image under the given folders (default: upstream/, the reference's own test images;
// not edge/, whose photos are copies of the public images; bench/fetch_distractors.sh builds a
// corpus of ~6 900 public-domain clip-art and wallpaper images from Debian packages). Matching here
// is a brute-force distance check against the known set, in process (the service path is issue 18's
// next step). Recall counts known images whose PDQ quality is >= 50, as the service does.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bench_json.h"
#include "engine/describe/describe.h"
#include "engine/sys/sys.h"

namespace {

namespace hd = hashmatch::describe;
using hashmatch::Pdq256;
using Clock = std::chrono::steady_clock;

constexpr int kQualityFloor = 50;

// The hashes one image contributes: `plain`, its `dihedral` variants (a query's; lossless
// transforms of the same pixels: matched at the plain threshold) and the `derived` ones (the
// content inside borders, and its dihedral variants: matched at the tighter threshold).
struct Hashes {
  Pdq256 plain;
  int quality = 0;
  std::vector<Pdq256> dihedral;
  std::vector<Pdq256> derived;
  int derived_quality = 0;
};

Hashes Known(const hd::ImageDescriptors& d) {
  Hashes h{d.pdq.hash, d.pdq.quality, {}, {}, 0};
  if (d.trimmed) {
    h.derived.push_back(d.trimmed->pdq.hash);
    h.derived_quality = d.trimmed->pdq.quality;
  }
  return h;
}

Hashes Query(const hd::ImageDescriptors& d) {
  Hashes h{d.pdq.hash, d.pdq.quality, {}, {}, 0};
  for (std::size_t k = 1; k < 8; ++k) h.dihedral.push_back(d.dihedral->hashes[k]);
  if (d.trimmed) {
    for (const Pdq256& t : d.trimmed->dihedral->hashes) h.derived.push_back(t);
    h.derived_quality = d.trimmed->pdq.quality;
  }
  return h;
}

// Which known images `q` matches: plain against plain within `plain_max`; with `robust`, also
// the query's dihedral hashes against the known plain one within `plain_max`, and any derived
// hash of either side within `derived_max` (derived hashes of good quality only). `margin`, when
// given, gets the smallest (distance - threshold) over the comparisons made: how close the
// query came to matching (<= 0: it matched).
std::set<std::size_t> Matches(const Hashes& q, const std::vector<Hashes>& known, bool robust,
                              int plain_max, int derived_max, int* margin = nullptr) {
  std::set<std::size_t> out;
  if (q.quality < kQualityFloor) return out;
  const auto within = [&](const Pdq256& a, const Pdq256& b, int max) {
    const int d = hashmatch::HammingDistance(a, b);
    if (margin != nullptr) *margin = std::min(*margin, d - max);
    return d <= max;
  };
  const std::vector<Pdq256> none;
  for (std::size_t i = 0; i < known.size(); ++i) {
    const Hashes& k = known[i];
    if (k.quality < kQualityFloor) continue;
    bool hit = within(q.plain, k.plain, plain_max);
    if (robust) {
      for (const Pdq256& a : q.dihedral) hit = within(a, k.plain, plain_max) || hit;
      const auto& q_derived = q.derived_quality >= kQualityFloor ? q.derived : none;
      const auto& k_derived = k.derived_quality >= kQualityFloor ? k.derived : none;
      for (const Pdq256& b : k_derived) {
        hit = within(q.plain, b, derived_max) || hit;
        for (const Pdq256& a : q.dihedral) hit = within(a, b, derived_max) || hit;
        for (const Pdq256& a : q_derived) hit = within(a, b, derived_max) || hit;
      }
      for (const Pdq256& a : q_derived) hit = within(a, k.plain, derived_max) || hit;
    }
    if (hit) out.insert(i);
  }
  return out;
}

std::vector<std::vector<std::string>> ReadTsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> fields;
    std::stringstream s(line);
    for (std::string f; std::getline(s, f, '\t');) fields.push_back(f);
    rows.push_back(std::move(fields));
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "bench_accuracy: recall per edit family and false matches, plain PDQ next to the robust "
      "lookups (dihedral + trimmed borders), from the same run"};
  std::string pdq_dir = std::string(HM_SHARED_DIR) + "/testdata/pdq", json_path;
  std::vector<std::string> distractor_dirs;
  int plain_max = 31, derived_max = 24;
  app.add_option("--testdata", pdq_dir, "testdata/pdq (images/, variants/, variants.tsv)")
      ->capture_default_str();
  app.add_option("--distractors", distractor_dirs,
                 "Folders of images that are not known material (default: upstream/ of "
                 "--testdata)");
  app.add_option("--distance", plain_max, "Plain PDQ threshold")->capture_default_str();
  app.add_option("--derived-distance", derived_max,
                 "Threshold for dihedral and trimmed hashes (tighter than the plain one)")
      ->capture_default_str();
  app.add_option("--json", json_path, "Also write the figures as JSON");
  CLI11_PARSE(app, argc, argv);
  if (distractor_dirs.empty()) distractor_dirs = {pdq_dir + "/upstream"};

  hd::DescribeOptions known_options;
  known_options.trim_borders = true;
  hd::DescribeOptions query_options = known_options;
  query_options.dihedral = true;
  hd::Describer known_describer(known_options), query_describer(query_options), plain;

  // Known images, by the file name variants.tsv uses.
  std::map<std::string, std::size_t> known_index;
  std::vector<Hashes> known;
  int known_trimmed = 0;
  for (const auto& row : ReadTsv(pdq_dir + "/variants.tsv")) {
    if (row.size() < 3 || row[0] == "original" || known_index.count(row[0])) continue;
    const auto d = known_describer.DescribeFile(pdq_dir + "/" + row[0], hd::MediaKind::kImage);
    if (!d.ok()) continue;
    known_index[row[0]] = known.size();
    known.push_back(Known(std::get<hd::ImageDescriptors>(*d)));
    known_trimmed += std::get<hd::ImageDescriptors>(*d).trimmed ? 1 : 0;
  }

  // Recall per family.
  struct Family {
    int total = 0, plain = 0, robust = 0, wrong_plain = 0, wrong_robust = 0;
  };
  std::map<std::string, Family> families;
  double plain_seconds = 0, robust_seconds = 0;
  int queries = 0;
  for (const auto& row : ReadTsv(pdq_dir + "/variants.tsv")) {
    if (row.size() < 3 || row[0] == "original" || !known_index.count(row[0])) continue;
    const std::size_t want = known_index[row[0]];
    if (known[want].quality < kQualityFloor) continue;
    const std::string path = pdq_dir + "/" + row[1];
    auto t0 = Clock::now();
    const auto p = plain.DescribeFile(path, hd::MediaKind::kImage);
    auto t1 = Clock::now();
    const auto r = query_describer.DescribeFile(path, hd::MediaKind::kImage);
    auto t2 = Clock::now();
    if (!p.ok() || !r.ok()) continue;
    plain_seconds += std::chrono::duration<double>(t1 - t0).count();
    robust_seconds += std::chrono::duration<double>(t2 - t1).count();
    ++queries;
    const Hashes q = Query(std::get<hd::ImageDescriptors>(*r));
    const auto plain_hits = Matches(q, known, false, plain_max, derived_max);
    const auto robust_hits = Matches(q, known, true, plain_max, derived_max);
    Family& f = families[row[2]];
    ++f.total;
    f.plain += plain_hits.count(want) ? 1 : 0;
    f.robust += robust_hits.count(want) ? 1 : 0;
    f.wrong_plain += static_cast<int>(plain_hits.size() - plain_hits.count(want));
    f.wrong_robust += static_cast<int>(robust_hits.size() - robust_hits.count(want));
  }

  // False matches on the distractors.
  int distractors = 0, false_plain = 0, false_robust = 0;
  int margin_plain = 256, margin_robust = 256;  // closest any distractor came to a match
  const auto files = hashmatch::sys::ListInputFiles(distractor_dirs);
  for (const std::string& path : files.ok() ? *files : std::vector<std::string>{}) {
    const auto r = query_describer.DescribeFile(path, hd::MediaKind::kImage);
    if (!r.ok()) continue;
    ++distractors;
    const Hashes q = Query(std::get<hd::ImageDescriptors>(*r));
    false_plain += Matches(q, known, false, plain_max, derived_max, &margin_plain).empty() ? 0 : 1;
    false_robust += Matches(q, known, true, plain_max, derived_max, &margin_robust).empty() ? 0 : 1;
  }

  std::printf(
      "bench_accuracy: %zu known images (%d with a border found), distance %d plain, %d "
      "derived\n\n",
      known.size(), known_trimmed, plain_max, derived_max);
  std::printf("%-22s %8s %14s %14s %16s\n", "edit family", "copies", "plain PDQ", "robust",
              "wrong known hit");
  nlohmann::json report = {
      {"known", known.size()}, {"plain_distance", plain_max}, {"derived_distance", derived_max}};
  for (const auto& [name, f] : families) {
    std::printf("%-22s %8d %8d %5.1f%% %8d %5.1f%% %8d / %d\n", name.c_str(), f.total, f.plain,
                100.0 * f.plain / f.total, f.robust, 100.0 * f.robust / f.total, f.wrong_plain,
                f.wrong_robust);
    report["families"][name] = {{"copies", f.total},
                                {"plain", f.plain},
                                {"robust", f.robust},
                                {"wrong_plain", f.wrong_plain},
                                {"wrong_robust", f.wrong_robust}};
  }
  std::printf(
      "\nfalse matches on %d distractor images: plain %d, robust %d; the closest any came to a "
      "match: %d bits past the threshold plain, %d robust%s\n",
      distractors, false_plain, false_robust, margin_plain, margin_robust,
      distractors < 1500 ? " (fewer than 1 500 distractors: see bench/fetch_distractors.sh)" : "");
  std::printf(
      "cost: lookups per query 1 plain, %d robust (8 dihedral, +8 when a border is "
      "found); derived hashes per known image <= 1; describe %.0f images/s plain, %.0f "
      "robust (1 thread)\n",
      16, queries / plain_seconds, queries / robust_seconds);
  report["distractors"] = {{"images", distractors},
                           {"plain", false_plain},
                           {"robust", false_robust},
                           {"margin_plain", margin_plain},
                           {"margin_robust", margin_robust}};
  report["images_per_second"] = {{"plain", queries / plain_seconds},
                                 {"robust", queries / robust_seconds}};
  return hashmatch::bench::WriteJson(json_path, report) ? 0 : 2;
}

// Test helpers: read a shared test image and hash it through engine/media + engine/hash.
#pragma once

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "engine/hash/hash.h"
#include "engine/media/media.h"

namespace hashmatch::testing {

inline std::string TestdataPath(const std::string& relative) {
  return std::string(HM_TESTDATA_DIR) + "/" + relative;
}

// The whole file, or an empty vector when it cannot be read (tests then fail on the decode).
inline std::vector<std::uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline hash::PixelView View(const media::Image& image) {
  return {image.bgr(),      image.height(),     image.width(),
          image.channels(), image.row_stride(), hash::ChannelOrder::kBgr};
}

// Rows of a tab-separated file, header skipped.
inline std::vector<std::vector<std::string>> ReadTsv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> fields;
    std::istringstream fs(line);
    for (std::string f; std::getline(fs, f, '\t');) fields.push_back(f);
    rows.push_back(fields);
  }
  return rows;
}

}  // namespace hashmatch::testing

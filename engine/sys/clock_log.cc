#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/sys/sys.h"

namespace hashmatch::sys {

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string QuoteLogValue(std::string_view value) {
  std::string out = "\"";
  for (const char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          out += absl::StrFormat("\\x%02x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

void Log(std::string_view level, std::string_view message,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields) {
  const std::int64_t ms = NowMs();
  std::string line = absl::StrFormat("ts=%d.%03d level=%s msg=%s", ms / 1000, ms % 1000,
                                     std::string(level), QuoteLogValue(message));
  for (const auto& [key, value] : fields) {
    absl::StrAppend(&line, " ", std::string(key), "=", QuoteLogValue(value));
  }
  line += "\n";
  // One write per line, so lines from several threads do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace hashmatch::sys

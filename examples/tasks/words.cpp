// word_count(text): how often each word occurs. A word is a run of letters, digits and apostrophes (bytes of UTF-8
// sequences count as letters, so non-ASCII words stay whole); ASCII letters are lowercased.
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "farm/tasks/task_definition.hpp"

namespace {

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '\'' || c >= 0x80;
}

std::map<std::string, std::int64_t> word_count(std::string_view text) {
  std::map<std::string, std::int64_t> counts;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) ++counts[word];
    word.clear();
  };
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (!is_word_byte(c)) {
      flush();
      continue;
    }
    word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch;
  }
  flush();
  return counts;
}

}  // namespace

RFARM_TASK("word_count", word_count)

#include "farm/client/word_values.hpp"

#include <flatbuffers/idl.h>
#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <string>

#include "farm/values/value.hpp"

namespace rfarm::farm {

namespace {

template <class T>
bool parse_whole(std::string_view word, T& out) {
  const char* end = word.data() + word.size();
  auto [ptr, ec] = std::from_chars(word.data(), end, out);
  return ec == std::errc() && ptr == end;
}

bool looks_like_float(std::string_view word) {
  if (word.empty()) return false;
  std::size_t i = (word[0] == '-' || word[0] == '+') ? 1 : 0;
  if (i >= word.size() || !(std::isdigit(static_cast<unsigned char>(word[i])) || word[i] == '.')) return false;
  return word.find_first_of(".eE") != std::string_view::npos;
}

}  // namespace

FarmResult<void> write_word(flexbuffers::Builder& b, std::string_view word) {
  if (!word.empty() && (word[0] == '[' || word[0] == '{' || word[0] == '"')) {
    flatbuffers::Parser parser;
    flexbuffers::Builder parsed;
    std::string text(word);
    if (!parser.ParseFlexBuffer(text.c_str(), nullptr, &parsed))
      return fail_with(FarmErrc::value_malformed, "bad JSON: " + parser.error_);
    const std::vector<std::uint8_t>& bytes = parsed.GetBuffer();
    copy_value(b, flexbuffers::GetRoot(bytes.data(), bytes.size()));
    return {};
  }
  if (word == "true" || word == "false") {
    b.Bool(word == "true");
    return {};
  }
  if (word == "null") {
    b.Null();
    return {};
  }
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  std::string_view digits = !word.empty() && word[0] == '+' ? word.substr(1) : word;
  if (parse_whole(digits, i)) b.Int(i);
  else if (parse_whole(digits, u)) b.UInt(u);
  else if (looks_like_float(word) && parse_whole(digits, d)) b.Double(d);
  else b.String(word.data(), word.size());
  return {};
}

FarmResult<std::vector<std::uint8_t>> encode_words(std::span<const std::string> words) {
  flexbuffers::Builder b;
  std::size_t start = b.StartVector();
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (auto ok = write_word(b, words[i]); !ok)
      return fail_with(ok.error().code, fmt::format("argument {}: {}", i + 1, ok.error().message));
  }
  b.EndVector(start, false, false);
  b.Finish();
  return b.GetBuffer();
}

}  // namespace rfarm::farm

#include "reactor/stream/http_chunked.hpp"

#include <charconv>
#include <string>

namespace rfarm {
namespace {

class HttpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rfarm.http"; }

  std::string message(int value) const override {
    switch (static_cast<HttpErrc>(value)) {
      case HttpErrc::bad_chunk_size: return "malformed chunk-size line";
      case HttpErrc::chunk_too_large: return "chunk size above the limit";
      case HttpErrc::bad_chunk_end: return "chunk data not followed by CRLF";
      case HttpErrc::chunk_line_too_long: return "chunk-size or trailer line above the length limit";
      case HttpErrc::bad_trailer: return "malformed trailer field";
      case HttpErrc::trailers_too_large: return "trailer section above the limits";
      case HttpErrc::body_too_large: return "body above the limit";
      case HttpErrc::truncated_body: return "connection ended inside the chunked body";
      case HttpErrc::invalid_field: return "field name or value that cannot be sent";
    }
    return "unknown HTTP error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<HttpErrc>(value)) {
      case HttpErrc::chunk_too_large:
      case HttpErrc::chunk_line_too_long:
      case HttpErrc::trailers_too_large:
      case HttpErrc::body_too_large: return std::errc::message_size;
      case HttpErrc::invalid_field: return std::errc::invalid_argument;
      default: return std::errc::bad_message;
    }
  }
};

bool is_blank(char c) noexcept { return c == ' ' || c == '\t'; }

// Control characters other than HTAB (RFC 9110 §5.5: field values exclude them).
bool is_control(char c) noexcept {
  auto u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t') || u == 0x7f;
}

// tchar (RFC 9110 §5.6.2).
bool is_token_char(char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token_char(c)) return false;
  return true;
}

}  // namespace

const std::error_category& http_category() noexcept {
  static const HttpCategory category;  // immutable after construction
  return category;
}

namespace http {

Result<std::uint64_t> parse_chunk_size_line(std::string_view line, std::uint64_t max_chunk_size) noexcept {
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), value, 16);
  if (ec == std::errc::result_out_of_range) return fail(make_error_code(HttpErrc::chunk_too_large));
  if (ec != std::errc{}) return fail(make_error_code(HttpErrc::bad_chunk_size));  // no hex digit first
  std::size_t i = static_cast<std::size_t>(end - line.data());
  if (value > max_chunk_size) return fail(make_error_code(HttpErrc::chunk_too_large));
  while (i < line.size() && is_blank(line[i])) ++i;  // BWS before the extensions
  if (i == line.size()) return value;
  if (line[i] != ';') return fail(make_error_code(HttpErrc::bad_chunk_size));
  // Extensions are ignored, but a control character in them (a stray CR, a NUL) means a broken sender.
  for (; i < line.size(); ++i)
    if (is_control(line[i])) return fail(make_error_code(HttpErrc::bad_chunk_size));
  return value;
}

Result<HeaderField> parse_field_line(std::string_view line) {
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return fail(make_error_code(HttpErrc::bad_trailer));
  std::string_view name = line.substr(0, colon);
  if (!is_token(name)) return fail(make_error_code(HttpErrc::bad_trailer));  // also rejects obs-fold lines
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && is_blank(value.front())) value.remove_prefix(1);
  while (!value.empty() && is_blank(value.back())) value.remove_suffix(1);
  for (char c : value)
    if (is_control(c)) return fail(make_error_code(HttpErrc::bad_trailer));
  return HeaderField{std::string(name), std::string(value)};
}

bool valid_field(std::string_view name, std::string_view value) noexcept {
  if (!is_token(name)) return false;
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::size_t format_chunk_header(std::uint64_t size, std::span<char, 20> out) noexcept {
  // At most 16 hex digits, then CRLF: always fits.
  char* end = std::to_chars(out.data(), out.data() + 16, size, 16).ptr;
  *end++ = '\r';
  *end++ = '\n';
  return static_cast<std::size_t>(end - out.data());
}

}  // namespace http

template class ChunkedReader<StreamSocket>;
template class ChunkedWriter<StreamSocket>;

}  // namespace rfarm

#include "tools/http_request_parser.hpp"

#include <algorithm>

namespace rfarm::tools {

namespace {

// tchar, RFC 9110 section 5.6.2.
bool is_token_char(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) noexcept { return !s.empty() && std::all_of(s.begin(), s.end(), is_token_char); }

// Visible characters of a request-target (no spaces, no controls, no DEL).
bool is_target(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// A field value may hold HTAB, SP, visible ASCII and obs-text; never CR, LF or NUL (RFC 9110 section 5.5).
bool is_field_value(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u == '\t' || u >= 0x20;
  }) && s.find('\x7f') == std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
           return lower(x) == lower(y);
         });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Does a comma-separated Connection value name this option?
bool has_connection_option(std::string_view value, std::string_view option) noexcept {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), option)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Takes one line (without its CRLF or LF) off the front of rest; false when no line end has arrived yet.
bool next_line(std::string_view& rest, std::string_view& line) noexcept {
  auto lf = rest.find('\n');
  if (lf == std::string_view::npos) return false;
  line = rest.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  rest.remove_prefix(lf + 1);
  return true;
}

HttpParseResult bad(std::string_view why) noexcept { return {HttpParseStatus::bad, {}, why}; }

bool parse_request_line(std::string_view line, HttpRequest& request) noexcept {
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) return false;
  request.method = line.substr(0, sp1);
  request.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(request.method) || !is_target(request.target)) return false;
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9') return false;
  request.minor_version = version[7] - '0';
  request.keep_alive = request.minor_version >= 1;
  return true;
}

}  // namespace

HttpParseResult parse_http_request(std::string_view input, std::size_t max_head_bytes,
                                   std::size_t max_body_bytes) noexcept {
  const std::string_view window = input.substr(0, std::min(input.size(), max_head_bytes));
  std::string_view rest = window;
  std::string_view line;
  // RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before the request line.
  if (!rest.empty() && (rest.front() == '\r' || rest.front() == '\n')) {
    // Waiting for that line's end is bounded by the head limit like any other line (else a peer sending "\r"
    // and never a line feed would be buffered for ever).
    if (!next_line(rest, line)) {
      if (input.size() >= max_head_bytes) return bad("request head too large");
      return {};
    }
    if (!line.empty()) return bad("malformed request line");
  }
  if (!next_line(rest, line)) {
    if (input.size() >= max_head_bytes) return bad("request head too large");
    // Refuse early what can never become a request line (no waiting for a line end that proves nothing).
    for (char c : rest)
      if (c != ' ' && c != '\r' && !(c > 0x20 && c < 0x7f)) return bad("malformed request line");
    return {};
  }
  HttpRequest request;
  if (!parse_request_line(line, request)) return bad("malformed request line");

  bool have_length = false, close = false, keep_alive = false;
  for (;;) {
    if (!next_line(rest, line)) {
      if (input.size() >= max_head_bytes) return bad("request head too large");
      return {};
    }
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return bad("obsolete line folding");
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return bad("header line without a colon");
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (!is_token(name)) return bad("malformed header name");
    if (!is_field_value(value)) return bad("control character in a header value");
    if (iequals(name, "content-length")) {
      if (value.empty() || value.size() > 18 || !std::all_of(value.begin(), value.end(), [](char c) {
            return c >= '0' && c <= '9';
          }))
        return bad("malformed Content-Length");
      std::size_t n = 0;
      for (char c : value) n = n * 10 + static_cast<std::size_t>(c - '0');
      if (have_length && n != request.content_length) return bad("conflicting Content-Length headers");
      have_length = true;
      request.content_length = n;
    } else if (iequals(name, "transfer-encoding")) {
      return bad("Transfer-Encoding is not supported");
    } else if (iequals(name, "connection")) {
      close = close || has_connection_option(value, "close");
      keep_alive = keep_alive || has_connection_option(value, "keep-alive");
    }
  }
  if (close) request.keep_alive = false;
  else if (keep_alive) request.keep_alive = true;
  if (request.content_length > max_body_bytes) return bad("request body too large");
  std::size_t head = window.size() - rest.size();
  if (input.size() - head < request.content_length) return {};
  request.size = head + request.content_length;
  return {HttpParseStatus::complete, request, {}};
}

}  // namespace rfarm::tools

// An HTTP/1.1 request-head parser for tools/http-hello: enough of RFC 9112 to answer requests safely on a
// keep-alive, pipelined connection, and small enough to fuzz on its own (it owns no memory and does no I/O).
//
//     auto parsed = rfarm::tools::parse_http_request(buffer);          // std::string_view of received bytes
//     if (parsed.status == HttpParseStatus::incomplete) { /* read more */ }
//     else if (parsed.status == HttpParseStatus::bad) { /* answer 400 (parsed.error says why) and close */ }
//     else { /* parsed.request.size bytes were one whole request, body included */ }
//
// What it checks: the request line (`token SP request-target SP HTTP/1.x CRLF`, a bare LF tolerated as RFC 9112
// section 2.2 allows), header fields (`token ":" OWS value OWS`, no whitespace before the colon: section 5.1),
// Content-Length (digits only, one value; repeated identical values accepted, differing ones refused: section
// 6.3), Transfer-Encoding (refused: a responder that never reads bodies has no use for chunked ones, and
// guessing their length wrong is how request smuggling starts), obs-fold (refused, section 5.2), and the size
// of the head. Connection: close / keep-alive and the HTTP version decide whether the connection stays open.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rfarm::tools {

enum class HttpParseStatus : std::uint8_t {
  complete,    // request holds one whole request
  incomplete,  // the bytes so far are a valid prefix: read more
  bad,         // not a request we accept: answer 400 and close
};

struct HttpRequest {
  std::string_view method;
  std::string_view target;
  int minor_version = 1;          // HTTP/1.<minor_version>
  bool keep_alive = true;         // false after Connection: close, or for HTTP/1.0 without keep-alive
  std::size_t content_length = 0;
  std::size_t size = 0;           // bytes of the head and the body: where the next pipelined request starts
};

struct HttpParseResult {
  HttpParseStatus status = HttpParseStatus::incomplete;
  HttpRequest request{};           // meaningful when complete
  std::string_view error{};        // why, when bad (a constant string)
};

inline constexpr std::size_t kDefaultMaxHeadBytes = 8192;  // as nginx's large_client_header_buffers default
inline constexpr std::size_t kDefaultMaxBodyBytes = 1 << 20;

// Parses the request at the start of input. Views in the result point into input.
HttpParseResult parse_http_request(std::string_view input, std::size_t max_head_bytes = kDefaultMaxHeadBytes,
                                   std::size_t max_body_bytes = kDefaultMaxBodyBytes) noexcept;

}  // namespace rfarm::tools

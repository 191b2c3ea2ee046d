// tools/http_request_parser: http-hello's request-head parser on arbitrary bytes. Beyond not crashing:
//  * a complete request lies inside the input, and its views (method, target) point into it;
//  * parsing is prefix-consistent: the request's own bytes parse to the same request, every shorter prefix
//    of them is incomplete (never bad: the parser must not refuse a valid request that arrives in pieces),
//    and bytes after it (the next pipelined request) change nothing;
//  * a refusal is final: more bytes after a bad prefix stay bad.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "test/fuzz/fuzz_check.hpp"
#include "tools/http_request_parser.hpp"

namespace {

using rfarm::tools::HttpParseResult;
using rfarm::tools::HttpParseStatus;
using rfarm::tools::parse_http_request;

// Small limits in half the runs, so the size checks are reached by short inputs too.
struct Limits {
  std::size_t head;
  std::size_t body;
};

bool inside(std::string_view part, std::string_view whole) {
  return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool same_request(const HttpParseResult& a, const HttpParseResult& b) {
  return a.status == b.status && a.request.method == b.request.method && a.request.target == b.request.target &&
         a.request.minor_version == b.request.minor_version && a.request.keep_alive == b.request.keep_alive &&
         a.request.content_length == b.request.content_length && a.request.size == b.request.size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the limits; the rest is the received bytes.
  const Limits limits = (data[0] & 1) ? Limits{64u + data[0], 16u + data[0]} : Limits{8192, 1 << 20};
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::string_view view(input);

  HttpParseResult parsed = parse_http_request(view, limits.head, limits.body);
  switch (parsed.status) {
    case HttpParseStatus::complete: {
      const auto& r = parsed.request;
      FUZZ_CHECK(r.size > 0 && r.size <= view.size(), "a complete request lies inside the input");
      FUZZ_CHECK(inside(r.method, view.substr(0, r.size)) && inside(r.target, view.substr(0, r.size)),
                 "method and target point into the request");
      FUZZ_CHECK(!r.method.empty() && !r.target.empty(), "a request has a method and a target");
      FUZZ_CHECK(r.content_length <= limits.body && r.content_length <= r.size, "the body fits its limits");
      HttpParseResult alone = parse_http_request(view.substr(0, r.size), limits.head, limits.body);
      FUZZ_CHECK(same_request(alone, parsed), "the request's own bytes parse to the same request");
      // Prefixes: the empty one, one byte short, and a few cut points taken from the input.
      for (std::size_t cut : {std::size_t{0}, r.size - 1, r.size / 2, r.size / 3, (r.size * 7) / 8}) {
        if (cut >= r.size) continue;
        HttpParseResult part = parse_http_request(view.substr(0, cut), limits.head, limits.body);
        FUZZ_CHECK(part.status == HttpParseStatus::incomplete, "a prefix of a valid request is incomplete");
      }
      break;
    }
    case HttpParseStatus::bad: {
      FUZZ_CHECK(!parsed.error.empty(), "a refusal says why");
      std::string longer = input + "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
      FUZZ_CHECK(parse_http_request(longer, limits.head, limits.body).status == HttpParseStatus::bad,
                 "a refusal is final");
      break;
    }
    case HttpParseStatus::incomplete:
      FUZZ_CHECK(view.size() < limits.head + limits.body, "incomplete input stays within the limits");
      break;
  }
  return 0;
}

// reactor/stream/buffered_stream: the line and delimited readers (read_line, read_until) mixed with read_exactly,
// read_some, peek and consume, over an in-memory stream split at random. The input starts with a script of
// operations; every result is compared with a model that knows the whole stream (a string and a position): the
// records, the errors (line_too_long, end_of_stream) and what stays buffered after each.
//
// Input: [op count n][n x (kind, a, b)][split byte][stream bytes...].
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reactor/stream/buffered_stream.hpp"
#include "test/fuzz/fuzz_check.hpp"
#include "test/support/memory_stream.hpp"

namespace {

using rfarm::Errc;
using rfarm::test::MemoryStream;
using rfarm::test::run_now;
using rfarm::test::Splits;
using Buffered = rfarm::BufferedStream<MemoryStream<>>;

// The model: the whole stream and how much of it the reader consumed.
struct Model {
  std::string_view all;
  std::size_t at = 0;
  std::string_view rest() const { return all.substr(at); }

  // read_line / read_until as documented in buffered_stream.hpp: the record, or line_too_long (nothing
  // consumed), or end_of_stream (the partial record stays).
  rfarm::Result<std::string_view> delimited(std::string_view delimiter, std::size_t limit, bool line) {
    const std::size_t max_content = line ? limit + 1 : limit;  // a line's content may end with the CR
    std::string_view r = rest();
    std::size_t found = r.find(delimiter);
    if (found == std::string_view::npos) {
      std::size_t scanned = r.size() >= delimiter.size() ? r.size() - delimiter.size() + 1 : 0;
      return rfarm::fail(scanned > max_content ? Errc::line_too_long : Errc::end_of_stream);
    }
    if (found > max_content) return rfarm::fail(Errc::line_too_long);
    std::size_t length = found;
    if (line && length > 0 && r[length - 1] == '\r') --length;
    if (length > limit) return rfarm::fail(Errc::line_too_long);
    at += found + delimiter.size();
    return r.substr(0, length);
  }
};

void same(const rfarm::Result<std::string_view>& got, const rfarm::Result<std::string_view>& want, const char* what) {
  FUZZ_CHECK(got.has_value() == want.has_value(), what);
  if (got) FUZZ_CHECK(*got == *want, what);
  else FUZZ_CHECK(got.error() == want.error(), what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t ops = std::min<std::size_t>(data[0] % 17, (size - 2) / 3);
  const std::uint8_t* script = data + 1;
  const std::uint8_t split = script[3 * ops];
  const std::string input(reinterpret_cast<const char*>(script + 3 * ops + 1), size - 2 - 3 * ops);

  rfarm::BufferPool pool(8 + split % 57);  // small buffers: records cross buffer boundaries
  Splits splits = (split & 0x80) ? Splits::random(1 + split % 19, split) : Splits{1 + split % 5u, 0};
  Buffered in(MemoryStream<>(input, splits), pool);
  Model model{input};
  static constexpr std::string_view kDelimiters[] = {"\n", "\r\n\r\n", "\0", "ab", "aab", "--boundary"};
  std::string scratch;

  for (std::size_t i = 0; i < ops; ++i) {
    const std::uint8_t kind = script[3 * i], a = script[3 * i + 1], b = script[3 * i + 2];
    switch (kind % 6) {
      case 0: {  // read_line
        std::size_t limit = a;
        same(run_now(in.read_line(limit)), model.delimited("\n", limit, true), "read_line agrees with the model");
        break;
      }
      case 1: {  // read_until
        std::string_view delimiter = kDelimiters[b % std::size(kDelimiters)];
        if (delimiter == std::string_view("\0")) delimiter = std::string_view("\0", 1);
        std::size_t limit = a;
        same(run_now(in.read_until(delimiter, limit)), model.delimited(delimiter, limit, false),
             "read_until agrees with the model");
        break;
      }
      case 2: {  // read_exactly
        scratch.assign(a, '\0');
        auto got = run_now(in.read_exactly(rfarm::as_writable_bytes(scratch)));
        if (model.rest().size() >= scratch.size()) {
          FUZZ_CHECK(got && *got == scratch.size(), "read_exactly fills its buffer when the bytes exist");
          FUZZ_CHECK(scratch == model.rest().substr(0, scratch.size()), "read_exactly reads the next bytes");
          model.at += scratch.size();
        } else {
          FUZZ_CHECK(!got && got.error() == Errc::end_of_stream, "read_exactly past the end: end_of_stream");
          return 0;  // how much a failed read_exactly consumed is not specified further
        }
        break;
      }
      case 3: {  // read_some
        scratch.assign(1 + a % 64, '\0');
        auto got = run_now(in.read_some(rfarm::as_writable_bytes(scratch)));
        FUZZ_CHECK(got.has_value(), "read_some of a memory stream succeeds");
        FUZZ_CHECK(*got <= scratch.size() && (*got > 0) == !model.rest().empty(), "read_some: 0 only at the end");
        FUZZ_CHECK(std::string_view(scratch).substr(0, *got) == model.rest().substr(0, *got),
                   "read_some reads the next bytes");
        model.at += *got;
        break;
      }
      case 4: {  // peek then consume
        auto got = run_now(in.peek(a % 80));
        FUZZ_CHECK(got.has_value(), "peek of a memory stream succeeds");
        std::string_view seen = rfarm::as_chars(*got);
        FUZZ_CHECK(seen.size() >= std::min<std::size_t>(a % 80, model.rest().size()), "peek waits for its bytes");
        FUZZ_CHECK(seen == model.rest().substr(0, seen.size()), "peek shows the next bytes");
        std::size_t n = std::min<std::size_t>(b, seen.size());
        in.consume(b);
        model.at += n;
        break;
      }
      default: {  // what is buffered is always the next bytes
        std::string_view buffered = rfarm::as_chars(in.buffered());
        FUZZ_CHECK(buffered == model.rest().substr(0, buffered.size()), "the buffer holds the next bytes");
        break;
      }
    }
  }
  return 0;
}

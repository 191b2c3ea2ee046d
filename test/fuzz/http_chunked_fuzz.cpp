// reactor/stream/http_chunked: ChunkedReader on an arbitrary body, over an in-memory stream (no reactor: every
// receive completes at once). The outcome - the body or the error, the trailers, and the bytes left in the stream
// for the next message - must not depend on how the input is split across receives (whole, one byte at a time,
// random pieces; tiny pool buffers make every token cross a buffer boundary). A body that decodes re-encodes with
// ChunkedWriter to one that decodes to the same body and trailers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "reactor/stream/http_chunked.hpp"
#include "test/fuzz/fuzz_check.hpp"
#include "test/support/memory_stream.hpp"

namespace {

using rfarm::test::MemoryStream;
using rfarm::test::run_now;
using rfarm::test::Splits;
using Stream = MemoryStream<true>;
using Buffered = rfarm::BufferedStream<Stream>;

struct Decoded {
  rfarm::Result<std::string> body = std::string();
  std::vector<rfarm::HeaderField> trailers;
  std::string after;  // what the stream still holds after the body
  bool operator==(const Decoded&) const = default;
};

Decoded decode(rfarm::BufferPool& pool, const std::string& input, Splits splits, const rfarm::ChunkedLimits& limits) {
  Buffered in(Stream(input, splits, &pool), pool);
  rfarm::ChunkedReader reader(in, limits);
  Decoded d;
  d.body = run_now(reader.read_all(1 << 16));
  if (d.body) {
    FUZZ_CHECK(reader.done() && reader.body_bytes() == d.body->size(), "a read body is done and counted");
    d.trailers = reader.trailers();
    std::string rest(input.size() + 1, '\0');
    for (;;) {  // everything after the body, through any number of receives
      auto n = run_now(in.read_some(rfarm::as_writable_bytes(rest)));
      FUZZ_CHECK(n.has_value(), "the rest of a memory stream reads");
      if (*n == 0) break;
      d.after.append(rest.data(), *n);
    }
  } else {
    FUZZ_CHECK(reader.state() == rfarm::ChunkedState::failed, "an error leaves the reader failed");
    FUZZ_CHECK(d.body.error().category() == rfarm::http_category() || d.body.error() == rfarm::Errc::end_of_stream,
               "errors are HTTP errors (or the end of the stream)");
  }
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  rfarm::ChunkedLimits limits;
  if (data[0] & 1) {  // small limits, so that every limit is reached by short inputs
    limits.max_chunk_size = 1 + data[0];
    limits.max_line_length = 8 + data[0] % 64;
    limits.max_trailer_bytes = 16 + data[0] % 128;
    limits.max_trailer_fields = 1 + data[0] % 8;
  }
  const std::string input(reinterpret_cast<const char*>(data + 2), size - 2);
  rfarm::BufferPool pool(16 + data[1] % 48);

  const Decoded whole = decode(pool, input, Splits::whole(), limits);
  FUZZ_CHECK(decode(pool, input, Splits::one_byte(), limits) == whole, "one byte per receive changes nothing");
  FUZZ_CHECK(decode(pool, input, Splits::random(1 + data[1] % 23, 1u + data[1]), limits) == whole,
             "random receive sizes change nothing");
  if (!whole.body) return 0;

  // Re-encode what was read: the same body and trailers come back.
  Buffered out(Stream("", {}, &pool), pool);
  rfarm::ChunkedWriter writer(out);
  FUZZ_CHECK(!run_now(writer.write(*whole.body)), "the writer takes any body");
  FUZZ_CHECK(!run_now(writer.finish(whole.trailers)), "trailers the reader accepted can be written");
  rfarm::ChunkedLimits roomy;  // the writer may chunk differently; the trailers are the same
  roomy.max_trailer_bytes = limits.max_trailer_bytes * 2 + 64;
  const Decoded again = decode(pool, out.stream().output, Splits::random(7, 3), roomy);
  FUZZ_CHECK(again.body && *again.body == *whole.body, "a re-encoded body decodes to the same body");
  FUZZ_CHECK(again.trailers == whole.trailers, "re-encoded trailers decode to the same trailers");
  return 0;
}

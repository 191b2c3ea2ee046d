// HTTP/1.1 chunked transfer coding (RFC 9112 §7.1) over a BufferedStream: a reader that decodes a chunked
// body and a writer that encodes one.
//
//     rfarm::ChunkedReader body(conn);                          // after the header block
//     std::byte buf[8192];
//     for (;;) {
//       auto n = co_await body.read(buf);                       // Result<size_t>, 0 at the end of the body
//       if (!n || *n == 0) break;
//     }
//     body.trailers();                                          // the trailer fields, once read() returned 0
//
//     rfarm::ChunkedWriter out(conn);
//     co_await out.write(rfarm::as_bytes("hello"));             // "5\r\nhello\r\n"
//     co_await out.finish({{"Digest", "..."}});                 // "0\r\nDigest: ...\r\n\r\n", then a flush
//
// The reader ignores chunk extensions (it checks their syntax loosely: they must start with ';'), enforces
// the limits in ChunkedLimits, and reports malformed input as an HttpErrc error; after an error it stays
// failed (the connection cannot be resynchronised and should be closed). Lines may end in CRLF or bare LF.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "lib/error.hpp"
#include "lib/maybe_ready.hpp"
#include "lib/task.hpp"
#include "reactor/stream/buffered_stream.hpp"

namespace rfarm {

// Malformed or oversized HTTP input. Conditions: the malformed ones are std::errc::bad_message, the limits
// std::errc::message_size, invalid_field std::errc::invalid_argument.
enum class HttpErrc : int {
  bad_chunk_size = 1,   // a chunk-size line that is not 1*HEXDIG [ BWS ";" extensions ]
  chunk_too_large,      // a chunk size above ChunkedLimits::max_chunk_size (or beyond 64 bits)
  bad_chunk_end,        // chunk data not followed by CRLF
  chunk_line_too_long,  // a chunk-size line or trailer line longer than ChunkedLimits::max_line_length
  bad_trailer,          // a trailer line that is not "name: value"
  trailers_too_large,   // more trailer bytes or fields than the limits allow
  body_too_large,       // more body than the caller allowed (read_all)
  truncated_body,       // the connection ended inside the chunked body
  invalid_field,        // the writer was given a trailer name or value it cannot send
};

const std::error_category& http_category() noexcept;
inline std::error_code make_error_code(HttpErrc e) noexcept { return {static_cast<int>(e), http_category()}; }

}  // namespace rfarm

template <>
struct std::is_error_code_enum<rfarm::HttpErrc> : std::true_type {};

namespace rfarm {

struct HeaderField {
  std::string name;
  std::string value;
  friend bool operator==(const HeaderField&, const HeaderField&) = default;
};

struct ChunkedLimits {
  std::uint64_t max_chunk_size = std::uint64_t{1} << 30;  // one chunk's declared size
  std::size_t max_line_length = 4096;                      // a chunk-size line (with extensions), a trailer line
  std::size_t max_trailer_bytes = 16 * 1024;               // all trailer lines together
  std::size_t max_trailer_fields = 64;
};

namespace http {

// "1a;ext=v" -> 26. Leading zeros are allowed; whitespace before ';' is (BWS), before the digits is not.
Result<std::uint64_t> parse_chunk_size_line(std::string_view line, std::uint64_t max_chunk_size) noexcept;
// "Name: value" (optional whitespace around the value; the name a token).
Result<HeaderField> parse_field_line(std::string_view line);
// A name is a token (RFC 9110 §5.1) and a value has no CR, LF or NUL: what can be sent without injection.
bool valid_field(std::string_view name, std::string_view value) noexcept;
// The chunk header for size bytes: "1a\r\n". Returns the number of characters written to out.
std::size_t format_chunk_header(std::uint64_t size, std::span<char, 20> out) noexcept;

}  // namespace http

// The reader's states; transitions happen in ChunkedReader::read only.
enum class ChunkedState : std::uint8_t {
  size_line,  // expecting "size[;ext] CRLF"
  data,       // inside a chunk's data
  data_end,   // expecting the CRLF after a chunk's data
  trailers,   // after the "0" chunk: trailer lines until an empty line
  done,       // the body and its trailers were read
  failed,     // malformed input, a limit, or an I/O error; read() repeats the error
};

template <ByteStream S>
class ChunkedReader {
 public:
  explicit ChunkedReader(BufferedStream<S>& in, ChunkedLimits limits = {}) noexcept : in_(in), limits_(limits) {}

  // Up to out.size() bytes of the body (out must not be empty); 0 once the body and its trailers were
  // read. The bytes after the body (the next message) stay in the BufferedStream. Chunk data already
  // buffered is delivered without I/O and without allocating.
  MaybeReady<Result<std::size_t>> read(MutableBytes out) {
    assert(!out.empty());
    if (state_ == ChunkedState::data && !in_.buffered().empty()) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_));
      return took_data(in_.read_some(out.first(want)).await_resume());  // ready: the bytes are buffered
    }
    return read_task(out);
  }

  // The whole (rest of the) body as a string; HttpErrc::body_too_large once it exceeds max_body bytes.
  Task<Result<std::string>> read_all(std::size_t max_body) {
    std::string body;
    std::byte buffer[16 * 1024];
    for (;;) {
      auto got = co_await read(buffer);
      if (!got) co_return fail(got.error());
      if (*got == 0) co_return body;
      if (body.size() + *got > max_body) co_return fail_with(make_error_code(HttpErrc::body_too_large));
      body.append(as_chars({buffer, *got}));
    }
  }

  ChunkedState state() const noexcept { return state_; }
  bool done() const noexcept { return state_ == ChunkedState::done; }
  // Body bytes delivered so far (chunk data only).
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  // Valid once done().
  const std::vector<HeaderField>& trailers() const noexcept { return trailers_; }

 private:
  Result<std::size_t> took_data(Result<std::size_t> got) noexcept {
    if (!got) return fail_with(got.error());
    if (*got == 0) return fail_with(make_error_code(HttpErrc::truncated_body));
    remaining_ -= *got;
    body_bytes_ += *got;
    if (remaining_ == 0) state_ = ChunkedState::data_end;
    return *got;
  }

  Task<Result<std::size_t>> read_task(MutableBytes out) {
    for (;;) {
      switch (state_) {
        case ChunkedState::size_line: {
          auto line = co_await in_.read_line(limits_.max_line_length);
          if (!line) co_return fail_with(line_error(line.error()));
          auto size = http::parse_chunk_size_line(*line, limits_.max_chunk_size);
          if (!size) co_return fail_with(size.error());
          remaining_ = *size;
          state_ = remaining_ == 0 ? ChunkedState::trailers : ChunkedState::data;
          break;
        }
        case ChunkedState::data: {
          std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(out.size(), remaining_));
          co_return took_data(co_await in_.read_some(out.first(want)));
        }
        case ChunkedState::data_end: {
          auto line = co_await in_.read_line(0);
          if (!line) {
            if (line.error() == Errc::line_too_long) co_return fail_with(make_error_code(HttpErrc::bad_chunk_end));
            co_return fail_with(line_error(line.error()));
          }
          state_ = ChunkedState::size_line;
          break;
        }
        case ChunkedState::trailers: {
          auto line = co_await in_.read_line(limits_.max_line_length);
          if (!line) co_return fail_with(line_error(line.error()));
          if (line->empty()) {
            state_ = ChunkedState::done;
            break;
          }
          trailer_bytes_ += line->size() + 2;
          if (trailer_bytes_ > limits_.max_trailer_bytes || trailers_.size() >= limits_.max_trailer_fields)
            co_return fail_with(make_error_code(HttpErrc::trailers_too_large));
          auto field = http::parse_field_line(*line);
          if (!field) co_return fail_with(field.error());
          trailers_.push_back(std::move(*field));
          break;
        }
        case ChunkedState::done: co_return std::size_t{0};
        case ChunkedState::failed: co_return fail(error_);
      }
    }
  }

  std::unexpected<std::error_code> fail_with(std::error_code ec) noexcept {
    state_ = ChunkedState::failed;
    error_ = ec;
    return fail(ec);
  }
  // A line-reading failure, in HTTP terms.
  static std::error_code line_error(std::error_code ec) noexcept {
    if (ec == Errc::line_too_long) return make_error_code(HttpErrc::chunk_line_too_long);
    if (ec == Errc::end_of_stream) return make_error_code(HttpErrc::truncated_body);
    return ec;
  }

  BufferedStream<S>& in_;
  ChunkedLimits limits_;
  ChunkedState state_ = ChunkedState::size_line;
  std::uint64_t remaining_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  std::vector<HeaderField> trailers_;
  std::error_code error_;
};

template <ByteStream S>
class ChunkedWriter {
 public:
  explicit ChunkedWriter(BufferedStream<S>& out) noexcept : out_(out) {}

  // One chunk holding data (through the stream's buffer; a chunk that does not fit leaves with what is
  // buffered in one gathered send, the data not copied). Empty data writes nothing: a zero-size chunk would
  // end the body. data must outlive the co_await. No call allocates.
  MaybeReady<std::error_code> write(ConstBytes data) {
    if (finished_) return make_error_code(std::errc::operation_not_permitted);
    if (data.empty()) return std::error_code{};
    header_length_ = http::format_chunk_header(data.size(), header_);
    const ConstBytes pieces[] = {as_bytes(std::string_view(header_, header_length_)), data, as_bytes(kCrlf)};
    return out_.write_pieces(pieces);
  }
  MaybeReady<std::error_code> write(std::string_view text) { return write(as_bytes(text)); }

  // The last chunk, the trailer fields and the closing empty line, then a flush. A trailer that could not
  // be sent intact (bad name, CR/LF in a value) fails with HttpErrc::invalid_field before anything is written.
  MaybeReady<std::error_code> finish(std::span<const HeaderField> trailers = {}) {
    if (finished_) return make_error_code(std::errc::operation_not_permitted);
    for (const HeaderField& f : trailers)
      if (!http::valid_field(f.name, f.value)) return make_error_code(HttpErrc::invalid_field);
    finished_ = true;
    if (trailers.empty()) {
      const ConstBytes last[] = {as_bytes(std::string_view("0\r\n\r\n"))};
      return out_.write_pieces(last, true);
    }
    return finish_with_trailers(trailers);  // trailers are rare: a coroutine frame is fine there
  }
  MaybeReady<std::error_code> finish(std::initializer_list<HeaderField> trailers) {
    return finish(std::span<const HeaderField>(trailers.begin(), trailers.size()));
  }

  bool finished() const noexcept { return finished_; }

 private:
  static constexpr std::string_view kCrlf = "\r\n";

  Task<std::error_code> finish_with_trailers(std::span<const HeaderField> trailers) {
    if (std::error_code ec = co_await out_.write(std::string_view("0\r\n"))) co_return ec;
    for (const HeaderField& f : trailers) {
      const std::string_view parts[] = {f.name, ": ", f.value, "\r\n"};
      for (std::string_view part : parts)
        if (std::error_code ec = co_await out_.write(part)) co_return ec;
    }
    if (std::error_code ec = co_await out_.write(std::string_view("\r\n"))) co_return ec;
    co_return co_await out_.flush();
  }
  BufferedStream<S>& out_;
  bool finished_ = false;
  char header_[20] = {};  // the chunk header being written: it must outlive a send in flight
  std::size_t header_length_ = 0;
};

extern template class ChunkedReader<StreamSocket>;
extern template class ChunkedWriter<StreamSocket>;

}  // namespace rfarm

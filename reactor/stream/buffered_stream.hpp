// BufferedStream<S>: lines, delimited records, exact byte counts and raw bytes on one connection, mixed
// freely ("bivalent": a text header, then a binary body, then text again), over any ByteStream
// (StreamSocket, TlsStream).
//
//     rfarm::BufferedStream<rfarm::StreamSocket> conn(std::move(sock));
//     auto line = co_await conn.read_line(8192);            // Result<std::string_view>, CRLF or LF stripped
//     co_await conn.read_exactly(body);                     // exactly body.size() bytes
//     co_await conn.write("HTTP/1.1 200 OK\r\n");           // buffered
//     co_await conn.flush();                                // one send for everything buffered
//
// Buffers are leased from a BufferPool (by default the stream's reactor's receive pool) only while they hold
// bytes, so an idle stream pins none and moving any amount of data allocates a bounded number of buffers.
// No call allocates: one that the buffer can answer completes without I/O and without suspending (see
// lib/maybe_ready.hpp); one that needs I/O drives the stream's own awaitables from a small state machine
// (buffered_io.hpp) made on the stream's first such call.
//
// Lifetimes: a std::string_view or ConstBytes a read returns points into the read buffer and stays valid
// until the next read-side call (read_*, peek, consume) on this stream; copy it to keep it. Data passed to
// write() must stay valid until the co_await of that write returns.
//
// One read-side and one write-side call may be in flight at a time (a reader and a writer coroutine may run
// side by side). After a read error or timeout the buffered bytes are still there; after a failed read_exactly
// the bytes already copied out are consumed. A write error is sticky: later writes and flushes report it.
#pragma once

#include <sys/uio.h>

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "lib/error.hpp"
#include "lib/maybe_ready.hpp"
#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/stream/byte_stream.hpp"
#include "reactor/stream/detail/buffered_io.hpp"
#include "reactor/stream/stream_buffers.hpp"

namespace rfarm {

template <ByteStream S>
class BufferedStream {
 public:
  // Leases its buffers from pool (which must outlive the stream).
  BufferedStream(S stream, BufferPool& pool) : in_(pool), out_(pool), stream_(std::move(stream)) {}
  // Leases its buffers from the stream's reactor's receive pool.
  explicit BufferedStream(S stream)
    requires HasReactor<S>
      : in_(stream.reactor().receive_pool()), out_(stream.reactor().receive_pool()), stream_(std::move(stream)) {}

  S& stream() noexcept { return stream_; }
  const S& stream() const noexcept { return stream_; }

  // --- reading ----------------------------------------------------------------------------------------

  // The next line without its terminator. A line ends at LF; a CR just before the LF is dropped too, so
  // "a\r\n" and "a\n" both give "a" (RFC 9112 §2.2 lets a recipient accept a bare LF); a CR anywhere else is
  // data. A line of more than limit bytes (terminator excluded) fails with Errc::line_too_long and stays
  // buffered. The end of the stream before a LF gives Errc::end_of_stream (a partial line stays buffered:
  // buffered() shows it). The view lives until the next read-side call.
  //     auto line = co_await in.read_line(1024);
  //     if (!line) co_return line.error();
  MaybeReady<Result<std::string_view>> read_line(std::size_t limit) {
    return read_delimited("\n", limit, true);
  }

  // The bytes before the next delimiter (consumed with it, not returned); the delimiter must not be empty
  // and must outlive the co_await. More than limit bytes before the delimiter: Errc::line_too_long.
  // Otherwise as read_line.
  //     auto head = co_await in.read_until("\r\n\r\n", 64 * 1024);
  MaybeReady<Result<std::string_view>> read_until(std::string_view delimiter, std::size_t limit) {
    return read_delimited(delimiter, limit, false);
  }

  // Fills out entirely; Errc::end_of_stream if the stream ends first. Remainders of a pool buffer or more
  // are received straight into out, without passing through the buffer.
  MaybeReady<Result<std::size_t>> read_exactly(MutableBytes out) {
    in_.release_if_empty();
    if (in_.size() >= out.size()) return in_.take(out);
    return io().read_exactly(*this, out);
  }

  // Some bytes (buffered ones first, else one receive); 0 at end of stream. out must not be empty.
  MaybeReady<Result<std::size_t>> read_some(MutableBytes out) {
    in_.release_if_empty();
    if (!in_.empty() || out.empty()) return in_.take(out);
    return io().read_some(*this, out);
  }

  // The buffered bytes, once at least min_bytes are buffered or the stream has ended (then fewer, maybe
  // none); consumes nothing. Use consume() to drop what was looked at.
  //     auto head = co_await in.peek(4);   // sniff a protocol: "GET ", or a TLS record header
  MaybeReady<Result<ConstBytes>> peek(std::size_t min_bytes = 1) {
    in_.release_if_empty();
    if (in_.size() >= min_bytes) return in_.data();
    return io().peek(*this, min_bytes);
  }

  // Drops up to n buffered bytes.
  void consume(std::size_t n) noexcept { in_.consume(std::min(n, in_.size())); }
  // What is buffered now (no I/O). Lives until the next read-side call.
  ConstBytes buffered() const noexcept { return in_.data(); }

  // --- writing ----------------------------------------------------------------------------------------

  // Buffers data; when it does not fit, the buffer is sent first. Data of a pool buffer or more is not
  // copied: it leaves together with what is buffered in one gathered send (when the stream can gather).
  MaybeReady<std::error_code> write(ConstBytes data) {
    if (write_error_) return write_error_;
    if (data.size() < out_.unit() && data.size() <= out_.room()) {
      if (!data.empty()) out_.append(data);
      return std::error_code{};
    }
    return io().write(*this, data);
  }
  MaybeReady<std::error_code> write(std::string_view text) { return write(as_bytes(text)); }

  // Sends everything buffered.
  MaybeReady<std::error_code> flush() {
    if (write_error_) return write_error_;
    if (out_.empty()) return std::error_code{};
    return io().flush(*this);
  }

  // Writes pieces (at most four) as one write: buffered if together they fit, otherwise sent with what is
  // buffered in one gathered send (the pieces must then outlive the co_await); then_flush sends in any case.
  // For framing a payload without copying it: a header, the payload, a trailer.
  //     const rfarm::ConstBytes parts[] = {header, payload, rfarm::as_bytes("\r\n")};
  //     co_await conn.write_pieces(parts);
  MaybeReady<std::error_code> write_pieces(std::span<const ConstBytes> pieces, bool then_flush = false)
    requires GatheringSender<S>
  {
    assert(pieces.size() <= detail::BufferedIo<S>::kMaxPieces);
    if (write_error_) return write_error_;
    std::size_t total = 0;
    for (ConstBytes piece : pieces) total += piece.size();
    if (total < out_.unit() && total <= out_.room()) {
      for (ConstBytes piece : pieces)
        if (!piece.empty()) out_.append(piece);
      if (!then_flush || out_.empty()) return std::error_code{};
      return io().flush(*this);
    }
    return io().send_with_pieces(*this, pieces);
  }

  // Bytes written but not yet flushed.
  std::size_t pending_output() const noexcept { return out_.size(); }

 private:
  MaybeReady<Result<std::string_view>> read_delimited(std::string_view delimiter, std::size_t limit, bool line) {
    assert(!delimiter.empty());
    in_.release_if_empty();
    std::size_t scanned = 0;
    if (auto done = try_take(delimiter, limit, line, scanned)) return std::move(*done);
    return io().read_delimited(*this, delimiter, limit, line, scanned);
  }

  // A complete record from the buffer, a limit failure, or nullopt when more bytes are needed (scanned: how
  // far the search got, so the next attempt does not rescan).
  std::optional<Result<std::string_view>> try_take(std::string_view delimiter, std::size_t limit, bool line,
                                                   std::size_t& scanned) noexcept {
    std::size_t max_content = line ? limit + 1 : limit;  // in line mode the content may end with the CR
    std::size_t at = in_.find(delimiter, scanned);
    if (at == std::string_view::npos) {
      std::size_t size = in_.size();
      scanned = size >= delimiter.size() ? size - delimiter.size() + 1 : 0;
      if (scanned > max_content) return fail(Errc::line_too_long);
      return std::nullopt;
    }
    std::string_view text = as_chars(in_.data());
    std::size_t length = at;
    if (line && length > 0 && text[length - 1] == '\r') --length;
    if (length > limit) return fail(Errc::line_too_long);
    in_.consume(at + delimiter.size());
    return text.substr(0, length);
  }

  friend class detail::BufferedIo<S>;
  detail::BufferedIo<S>& io() {
    if (!io_) io_ = std::make_unique<detail::BufferedIo<S>>();
    return *io_;
  }

  std::error_code note(const Result<std::size_t>& sent) noexcept {
    if (!sent) write_error_ = sent.error();
    return write_error_;
  }

  detail::ReadBuffer in_;
  detail::WriteBuffer out_;
  S stream_;  // after the buffers: constructed from the same argument they take their pool from
  std::error_code write_error_;
  std::unique_ptr<detail::BufferedIo<S>> io_;  // last: abandons an operation in flight before what it uses goes
};

namespace detail {
// Suspends until a later loop turn.
struct NextTurn {
  Reactor& reactor;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiter) {
    reactor.post([waiter] { waiter.resume(); });
  }
  void await_resume() const noexcept {}
};

template <class T, class Handler>
Task<void> run_with_handler(Reactor& reactor, MaybeReady<T> op, Handler handler, std::uint64_t started_turn) {
  T result = co_await std::move(op);
  // A handler never runs inside the call that started its operation.
  if (reactor.stats().turns == started_turn) co_await NextTurn{reactor};
  handler(std::move(result));
}
}  // namespace detail

// Callback form of any BufferedStream call: starts it now and passes its result to handler on the loop,
// never inside this call. The stream must outlive the operation.
//     rfarm::async_call(reactor, conn.read_line(80), [&](rfarm::Result<std::string_view> line) { ... });
template <class T, class Handler>
void async_call(Reactor& reactor, MaybeReady<T> op, Handler handler) {
  reactor.spawn(detail::run_with_handler(reactor, std::move(op), std::move(handler), reactor.stats().turns));
}

extern template class BufferedStream<StreamSocket>;

}  // namespace rfarm

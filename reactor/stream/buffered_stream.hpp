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
// A call that the buffer can answer completes without I/O and without allocating (see lib/maybe_ready.hpp).
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
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "lib/error.hpp"
#include "lib/maybe_ready.hpp"
#include "lib/task.hpp"
#include "reactor/stream/byte_stream.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/stream/stream_buffers.hpp"
#include "reactor/net/stream_socket.hpp"

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
    return read_exactly_slow(out);
  }

  // Some bytes (buffered ones first, else one receive); 0 at end of stream. out must not be empty.
  MaybeReady<Result<std::size_t>> read_some(MutableBytes out) {
    in_.release_if_empty();
    if (!in_.empty() || out.empty()) return in_.take(out);
    return read_some_slow(out);
  }

  // The buffered bytes, once at least min_bytes are buffered or the stream has ended (then fewer, maybe
  // none); consumes nothing. Use consume() to drop what was looked at.
  //     auto head = co_await in.peek(4);   // sniff a protocol: "GET ", or a TLS record header
  MaybeReady<Result<ConstBytes>> peek(std::size_t min_bytes = 1) {
    in_.release_if_empty();
    if (in_.size() >= min_bytes) return in_.data();
    return peek_slow(min_bytes);
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
    return write_slow(data);
  }
  MaybeReady<std::error_code> write(std::string_view text) { return write(as_bytes(text)); }

  // Sends everything buffered.
  MaybeReady<std::error_code> flush() {
    if (write_error_) return write_error_;
    if (out_.empty()) return std::error_code{};
    return flush_now();
  }

  // Bytes written but not yet flushed.
  std::size_t pending_output() const noexcept { return out_.size(); }

 private:
  MaybeReady<Result<std::string_view>> read_delimited(std::string_view delimiter, std::size_t limit, bool line) {
    assert(!delimiter.empty());
    in_.release_if_empty();
    std::size_t scanned = 0;
    if (auto done = try_take(delimiter, limit, line, scanned)) return std::move(*done);
    return read_delimited_slow(delimiter, limit, line, scanned);
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

  Task<Result<std::string_view>> read_delimited_slow(std::string_view delimiter, std::size_t limit, bool line,
                                                     std::size_t scanned) {
    // The most the buffer must hold: the longest allowed content plus its delimiter.
    std::size_t max_total = (line ? limit + 1 : limit) + delimiter.size();
    for (;;) {
      auto got = co_await fill(max_total);
      if (!got) co_return fail(got.error());
      if (*got == 0) co_return fail(Errc::end_of_stream);
      if (auto done = try_take(delimiter, limit, line, scanned)) co_return std::move(*done);
    }
  }

  Task<Result<std::size_t>> read_exactly_slow(MutableBytes out) {
    std::size_t done = in_.take(out);
    while (done < out.size()) {
      MutableBytes rest = out.subspan(done);
      if (rest.size() >= in_.unit()) {
        auto got = co_await stream_.recv(rest);
        if (!got) co_return fail(got.error());
        if (*got == 0) co_return fail(Errc::end_of_stream);
        done += *got;
      } else {
        auto got = co_await fill(in_.unit());
        if (!got) co_return fail(got.error());
        if (*got == 0) co_return fail(Errc::end_of_stream);
        done += in_.take(rest);
      }
    }
    co_return done;
  }

  Task<Result<std::size_t>> read_some_slow(MutableBytes out) {
    if (out.size() >= in_.unit()) co_return co_await stream_.recv(out);
    auto got = co_await fill(in_.unit());
    if (!got || *got == 0) co_return got;
    co_return in_.take(out);
  }

  Task<Result<ConstBytes>> peek_slow(std::size_t min_bytes) {
    while (in_.size() < min_bytes) {
      auto got = co_await fill(std::max(min_bytes, in_.unit()));
      if (!got) co_return fail(got.error());
      if (*got == 0) break;
    }
    co_return in_.data();
  }

  // One receive into the read buffer, which may grow to hold max_total bytes; 0 at end of stream. An empty
  // buffer receives with recv_pooled where the stream has it, so no buffer is pinned while waiting. Awaited
  // through MaybeReady, so that many receives that complete at once do not nest frames (lib/task.hpp).
  MaybeReady<Result<std::size_t>> fill(std::size_t max_total) { return fill_task(max_total); }
  Task<Result<std::size_t>> fill_task(std::size_t max_total) {
    if constexpr (PooledReceiver<S>) {
      if (in_.empty()) {
        in_.release_if_empty();
        auto got = co_await stream_.recv_pooled();
        if (!got) co_return fail(got.error());
        std::size_t n = got->size();
        if (n > 0) in_.adopt(std::move(*got));
        co_return n;
      }
    }
    MutableBytes room = in_.space(max_total);
    auto got = co_await stream_.recv(room);
    if (got && *got > 0) {
      in_.commit(*got);
    } else {
      in_.release_if_empty();  // nothing came: hold no buffer at the end of the stream
    }
    co_return got;
  }

  Task<std::error_code> write_slow(ConstBytes data) {
    if (data.size() >= out_.unit()) {
      if constexpr (GatheringSender<S>) {
        if (!out_.empty()) {
          iovec gather[2] = {{const_cast<std::byte*>(out_.data().data()), out_.size()},
                             {const_cast<std::byte*>(data.data()), data.size()}};
          auto sent = co_await stream_.send_all(std::span<iovec>(gather));
          out_.release();
          co_return note(sent);
        }
      } else {
        if (std::error_code ec = co_await flush()) co_return ec;
      }
      co_return note(co_await stream_.send_all(data));
    }
    std::size_t first = out_.append(data);
    if (std::error_code ec = co_await flush_now()) co_return ec;
    out_.append(data.subspan(first));
    co_return std::error_code{};
  }

  MaybeReady<std::error_code> flush_now() { return flush_task(); }
  Task<std::error_code> flush_task() {
    auto sent = co_await stream_.send_all(out_.data());
    out_.release();
    co_return note(sent);
  }

  std::error_code note(const Result<std::size_t>& sent) noexcept {
    if (!sent) write_error_ = sent.error();
    return write_error_;
  }

  detail::ReadBuffer in_;
  detail::WriteBuffer out_;
  S stream_;  // after the buffers: constructed from the same argument they take their pool from
  std::error_code write_error_;
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

// Internal to reactor/stream: the I/O paths of a BufferedStream, run without a coroutine frame.
//
// A read that the buffer cannot answer, or a write that must send, is a small state machine here: it plans one
// receive or send on the stream, starts the stream's own awaitable in place (AwaiterSlot), and looks at its
// result when it completes - at once, or later through the direction's CallbackCoroutine - until the call
// is answered; then it resumes the awaiting coroutine. The BufferedStream hands these out as ObjectOps
// (lib/maybe_ready.hpp), so the I/O path of a call allocates nothing: the one allocation is this object,
// made on the stream's first slow call, with one resumer frame per direction made on its first wait.
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

#include "lib/buffer_pool.hpp"
#include "lib/callback_coroutine.hpp"
#include "lib/error.hpp"
#include "lib/maybe_ready.hpp"
#include "reactor/stream/byte_stream.hpp"
#include "reactor/stream/detail/awaiter_slot.hpp"

namespace rfarm {

template <ByteStream S>
class BufferedStream;

namespace detail {

template <ByteStream S>
class BufferedIo {
  using Owner = BufferedStream<S>;
  using RecvAwaiter = decltype(std::declval<S&>().recv(std::declval<MutableBytes>()));
  using SendAwaiter = decltype(std::declval<S&>().send_all(std::declval<ConstBytes>()));
  template <class T>
  struct PooledOf {
    using type = RecvAwaiter;
  };
  template <PooledReceiver T>
  struct PooledOf<T> {
    using type = decltype(std::declval<T&>().recv_pooled());
  };
  template <class T>
  struct GatherOf {
    using type = SendAwaiter;
  };
  template <GatheringSender T>
  struct GatherOf<T> {
    using type = decltype(std::declval<T&>().send_all(std::declval<std::span<iovec>>()));
  };
  using PooledAwaiter = typename PooledOf<S>::type;
  using GatherAwaiter = typename GatherOf<S>::type;

 public:
  BufferedIo() = default;
  BufferedIo(const BufferedIo&) = delete;
  BufferedIo& operator=(const BufferedIo&) = delete;

  // --- reads (their fast paths are in BufferedStream) ---------------------------------------------------

  MaybeReady<Result<std::string_view>> read_delimited(Owner& owner, std::string_view delimiter, std::size_t limit,
                                                      bool line, std::size_t scanned) noexcept {
    Reader& r = begin_read(owner, ReadKind::delimited);
    r.delimiter = delimiter;
    r.limit = limit;
    r.line = line;
    r.scanned = scanned;
    return ObjectOp<Result<std::string_view>>{this, &start_read, &take_text, &abandon_read};
  }
  MaybeReady<Result<std::size_t>> read_exactly(Owner& owner, MutableBytes out) noexcept {
    begin_read(owner, ReadKind::exactly).out = out;
    return ObjectOp<Result<std::size_t>>{this, &start_read, &take_size, &abandon_read};
  }
  MaybeReady<Result<std::size_t>> read_some(Owner& owner, MutableBytes out) noexcept {
    begin_read(owner, ReadKind::some).out = out;
    return ObjectOp<Result<std::size_t>>{this, &start_read, &take_size, &abandon_read};
  }
  MaybeReady<Result<ConstBytes>> peek(Owner& owner, std::size_t min_bytes) noexcept {
    begin_read(owner, ReadKind::peek).min_bytes = min_bytes;
    return ObjectOp<Result<ConstBytes>>{this, &start_read, &take_bytes, &abandon_read};
  }

  // --- writes -----------------------------------------------------------------------------------------------

  // write() of data that does not just fit the buffer.
  MaybeReady<std::error_code> write(Owner& owner, ConstBytes data) noexcept {
    Writer& w = begin_write(owner);
    w.data = data;
    if (data.size() < owner.out_.unit()) {
      w.kind = WriteKind::fill_then_flush;
    } else if (GatheringSender<S> && !owner.out_.empty()) {
      w.kind = WriteKind::gathered;
      add_pieces(w, owner, {&data, 1});
    } else {
      w.kind = WriteKind::flush_then_send;
    }
    return write_op();
  }
  // flush() of a non-empty buffer.
  MaybeReady<std::error_code> flush(Owner& owner) noexcept {
    begin_write(owner).kind = WriteKind::flush;
    return write_op();
  }
  // The buffer and then pieces (at most kMaxPieces), in one gathered send; the pieces must outlive the call.
  MaybeReady<std::error_code> send_with_pieces(Owner& owner, std::span<const ConstBytes> pieces) noexcept
    requires GatheringSender<S>
  {
    Writer& w = begin_write(owner);
    w.kind = WriteKind::gathered;
    add_pieces(w, owner, pieces);
    return write_op();
  }
  static constexpr std::size_t kMaxPieces = 4;

 private:
  // --- read side ----------------------------------------------------------------------------------------------
  enum class ReadKind : std::uint8_t { delimited, exactly, some, peek };
  enum class Receive : std::uint8_t { none, pooled, into_buffer, direct };

  struct Reader {
    Owner* owner = nullptr;
    ReadKind kind = ReadKind::some;
    std::string_view delimiter;
    std::size_t limit = 0;
    bool line = false;
    std::size_t scanned = 0;
    MutableBytes out;
    std::size_t done = 0;
    std::size_t min_bytes = 0;
    Receive receive = Receive::none;
    MutableBytes room;  // the next receive's target (into_buffer, direct)
    std::coroutine_handle<> awaiter;
    Result<std::string_view> text;
    Result<std::size_t> size;
    Result<ConstBytes> bytes;
    CallbackCoroutine resumer;
    AwaiterSlot<RecvAwaiter, PooledAwaiter> io;
  };

  Reader& begin_read(Owner& owner, ReadKind kind) noexcept {
    reader_.owner = &owner;
    reader_.kind = kind;
    reader_.done = 0;
    return reader_;
  }

  // One step of the read: with the result of the receive just made (none at the start). True when the read
  // is answered; false when it planned another receive.
  bool read_advance(const std::optional<Result<std::size_t>>& got) noexcept {
    Reader& r = reader_;
    auto& in = r.owner->in_;
    bool direct = r.receive == Receive::direct;
    switch (r.kind) {
      case ReadKind::delimited: {
        if (got) {
          if (!*got) return answer(r.text, fail(got->error()));
          if (**got == 0) return answer(r.text, fail(Errc::end_of_stream));
          if (auto done = r.owner->try_take(r.delimiter, r.limit, r.line, r.scanned)) return answer(r.text, *done);
        }
        std::size_t max_total = (r.line ? r.limit + 1 : r.limit) + r.delimiter.size();
        return plan_fill(max_total);
      }
      case ReadKind::exactly: {
        if (!got) {
          r.done = in.take(r.out);
        } else {
          if (!*got) return answer(r.size, fail(got->error()));
          if (**got == 0) return answer(r.size, fail(Errc::end_of_stream));
          r.done += direct ? **got : in.take(r.out.subspan(r.done));
        }
        if (r.done == r.out.size()) return answer(r.size, r.done);
        MutableBytes rest = r.out.subspan(r.done);
        return rest.size() >= in.unit() ? plan_direct(rest) : plan_fill(in.unit());
      }
      case ReadKind::some: {
        if (!got) return r.out.size() >= in.unit() ? plan_direct(r.out) : plan_fill(in.unit());
        if (direct || !*got || **got == 0) return answer(r.size, *got);
        return answer(r.size, in.take(r.out));
      }
      case ReadKind::peek: {
        if (got) {
          if (!*got) return answer(r.bytes, fail(got->error()));
          if (**got == 0) return answer(r.bytes, in.data());
        }
        if (in.size() >= r.min_bytes) return answer(r.bytes, in.data());
        return plan_fill(std::max(r.min_bytes, in.unit()));
      }
    }
    return true;
  }

  template <class R, class V>
  static bool answer(R& slot, V&& value) noexcept {
    slot = std::forward<V>(value);
    return true;
  }

  // Plans one receive into the read buffer, which may grow to hold max_total bytes. An empty buffer receives
  // with recv_pooled where the stream has it, so no buffer is pinned while waiting.
  bool plan_fill(std::size_t max_total) noexcept {
    auto& in = reader_.owner->in_;
    if constexpr (PooledReceiver<S>) {
      if (in.empty()) {
        in.release_if_empty();
        reader_.receive = Receive::pooled;
        return false;
      }
    }
    reader_.room = in.space(max_total);
    reader_.receive = Receive::into_buffer;
    return false;
  }
  bool plan_direct(MutableBytes out) noexcept {
    reader_.room = out;
    reader_.receive = Receive::direct;
    return false;
  }

  // Starts the planned receive: true if it completed at once.
  bool start_receive() noexcept {
    Reader& r = reader_;
    S& stream = r.owner->stream_;
    if constexpr (PooledReceiver<S>) {
      if (r.receive == Receive::pooled) {
        auto& op = r.io.template emplace<PooledAwaiter>([&] { return stream.recv_pooled(); });
        return start_awaiter(op, read_resumer());
      }
    }
    auto& op = r.io.template emplace<RecvAwaiter>([&] { return stream.recv(r.room); });
    return start_awaiter(op, read_resumer());
  }

  // The completed receive's result: bytes received (0 at the end of the stream) or the error.
  Result<std::size_t> finish_receive() noexcept {
    Reader& r = reader_;
    auto& in = r.owner->in_;
    if constexpr (PooledReceiver<S>) {
      if (r.receive == Receive::pooled) {
        Result<PooledBuffer> got = r.io.template get<PooledAwaiter>().await_resume();
        r.io.reset();
        if (!got) return fail(got.error());
        std::size_t n = got->size();
        if (n > 0) in.adopt(std::move(*got));
        return n;
      }
    }
    Result<std::size_t> got = r.io.template get<RecvAwaiter>().await_resume();
    r.io.reset();
    if (r.receive == Receive::into_buffer) {
      if (got && *got > 0) {
        in.commit(*got);
      } else {
        in.release_if_empty();  // nothing came: hold no buffer at the end of the stream
      }
    }
    return got;
  }

  // Steps and receives until the read is answered (true) or waits for a receive (false).
  bool pump_read(std::optional<Result<std::size_t>> got) noexcept {
    for (;;) {
      if (read_advance(got)) return true;
      if (!start_receive()) return false;
      got = finish_receive();
    }
  }

  std::coroutine_handle<> read_resumer() noexcept {
    if (!reader_.resumer) {
      reader_.resumer = CallbackCoroutine::make();
      reader_.resumer.set(&BufferedIo::on_read_resumed, this);
    }
    return reader_.resumer.handle();
  }
  static std::coroutine_handle<> on_read_resumed(void* context) noexcept {
    auto& self = *static_cast<BufferedIo*>(context);
    if (!self.pump_read(self.finish_receive())) return std::noop_coroutine();
    return std::exchange(self.reader_.awaiter, {});
  }

  static bool start_read(void* object, std::coroutine_handle<> awaiter) noexcept {
    auto& self = *static_cast<BufferedIo*>(object);
    self.reader_.awaiter = awaiter;
    self.reader_.receive = Receive::none;
    return self.pump_read(std::nullopt);
  }
  static void abandon_read(void* object) noexcept {
    auto& self = *static_cast<BufferedIo*>(object);
    self.reader_.io.reset();  // abandons the receive in flight
    self.reader_.awaiter = {};
  }
  static Result<std::string_view> take_text(void* object) noexcept { return static_cast<BufferedIo*>(object)->reader_.text; }
  static Result<std::size_t> take_size(void* object) noexcept { return static_cast<BufferedIo*>(object)->reader_.size; }
  static Result<ConstBytes> take_bytes(void* object) noexcept { return static_cast<BufferedIo*>(object)->reader_.bytes; }

  // --- write side ---------------------------------------------------------------------------------------------
  enum class WriteKind : std::uint8_t {
    flush,            // send the buffer
    gathered,         // send the buffer and pieces together
    flush_then_send,  // send the buffer (if any), then data straight from the caller (a stream without gather)
    fill_then_flush,  // append what fits, send the buffer, append the rest (small data that does not fit)
  };

  struct Writer {
    Owner* owner = nullptr;
    WriteKind kind = WriteKind::flush;
    int phase = 0;
    ConstBytes data;
    std::size_t first = 0;  // fill_then_flush: bytes appended before the send
    iovec gather[kMaxPieces + 1] = {};
    std::size_t gather_count = 0;
    bool gathering = false;  // the send in flight is a gathered one
    std::coroutine_handle<> awaiter;
    std::error_code result;
    CallbackCoroutine resumer;
    AwaiterSlot<SendAwaiter, GatherAwaiter> io;
  };

  Writer& begin_write(Owner& owner) noexcept {
    writer_.owner = &owner;
    writer_.phase = 0;
    writer_.gather_count = 0;
    return writer_;
  }
  static void add_pieces(Writer& w, Owner& owner, std::span<const ConstBytes> pieces) noexcept {
    auto add = [&](ConstBytes b) {
      if (!b.empty()) w.gather[w.gather_count++] = {const_cast<std::byte*>(b.data()), b.size()};
    };
    add(owner.out_.data());
    for (ConstBytes piece : pieces.first(std::min(pieces.size(), kMaxPieces))) add(piece);
  }
  MaybeReady<std::error_code> write_op() noexcept {
    return ObjectOp<std::error_code>{this, &start_write, &take_write, &abandon_write};
  }

  // Runs the write, starting with the result of the send just made (none at the start): true when finished
  // (result set), false when a send is in flight. A send that completes at once is taken on the spot.
  bool write_advance(std::optional<Result<std::size_t>> sent) noexcept {
    Writer& w = writer_;
    Owner& o = *w.owner;
    switch (w.kind) {
      case WriteKind::flush:
        if (!sent && !send_plain(o.out_.data(), sent)) return false;
        o.out_.release();
        return done(o.note(*sent));
      case WriteKind::gathered:
        if (!sent && !send_gathered(sent)) return false;
        o.out_.release();
        return done(o.note(*sent));
      case WriteKind::flush_then_send:
        if (w.phase == 0) {
          w.phase = 1;
          if (!o.out_.empty() && !send_plain(o.out_.data(), sent)) return false;
        }
        if (w.phase == 1) {
          if (sent) {
            o.out_.release();
            if (std::error_code ec = o.note(*sent)) return done(ec);
            sent.reset();
          }
          w.phase = 2;
          if (!send_plain(w.data, sent)) return false;
        }
        return done(o.note(*sent));
      case WriteKind::fill_then_flush:
        if (!sent) {
          w.first = o.out_.append(w.data);
          if (!send_plain(o.out_.data(), sent)) return false;
        }
        o.out_.release();
        if (std::error_code ec = o.note(*sent)) return done(ec);
        o.out_.append(w.data.subspan(w.first));
        return done({});
    }
    return done({});
  }

  bool done(std::error_code ec) noexcept {
    writer_.result = ec;
    return true;
  }

  // Starts a send; false if it is in flight, otherwise (completed at once) its result is in `sent`.
  bool send_plain(ConstBytes bytes, std::optional<Result<std::size_t>>& sent) noexcept {
    Writer& w = writer_;
    S& stream = w.owner->stream_;
    w.gathering = false;
    auto& op = w.io.template emplace<SendAwaiter>([&] { return stream.send_all(bytes); });
    if (!start_awaiter(op, write_resumer())) return false;
    sent = finish_send();
    return true;
  }
  bool send_gathered(std::optional<Result<std::size_t>>& sent) noexcept {
    if constexpr (GatheringSender<S>) {
      Writer& w = writer_;
      S& stream = w.owner->stream_;
      w.gathering = true;
      std::span<iovec> gather(w.gather, w.gather_count);
      auto& op = w.io.template emplace<GatherAwaiter>([&] { return stream.send_all(gather); });
      if (!start_awaiter(op, write_resumer())) return false;
      sent = finish_send();
    }
    return true;
  }
  Result<std::size_t> finish_send() noexcept {
    Writer& w = writer_;
    Result<std::size_t> sent = w.gathering ? Result<std::size_t>(w.io.template get<GatherAwaiter>().await_resume())
                                           : Result<std::size_t>(w.io.template get<SendAwaiter>().await_resume());
    w.io.reset();
    return sent;
  }

  std::coroutine_handle<> write_resumer() noexcept {
    if (!writer_.resumer) {
      writer_.resumer = CallbackCoroutine::make();
      writer_.resumer.set(&BufferedIo::on_write_resumed, this);
    }
    return writer_.resumer.handle();
  }
  static std::coroutine_handle<> on_write_resumed(void* context) noexcept {
    auto& self = *static_cast<BufferedIo*>(context);
    if (!self.write_advance(self.finish_send())) return std::noop_coroutine();
    return std::exchange(self.writer_.awaiter, {});
  }

  static bool start_write(void* object, std::coroutine_handle<> awaiter) noexcept {
    auto& self = *static_cast<BufferedIo*>(object);
    self.writer_.awaiter = awaiter;
    return self.write_advance(std::nullopt);
  }
  static void abandon_write(void* object) noexcept {
    auto& self = *static_cast<BufferedIo*>(object);
    self.writer_.io.reset();
    self.writer_.awaiter = {};
  }
  static std::error_code take_write(void* object) noexcept { return static_cast<BufferedIo*>(object)->writer_.result; }

  Reader reader_;
  Writer writer_;
};

}  // namespace detail
}  // namespace rfarm

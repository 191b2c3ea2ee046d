// FrameReader<S>: length-prefixed frames - [length][payload], the length a u32 little-endian by default - from
// any ByteStream (StreamSocket, TlsStream).
//
//     rfarm::FrameReader<rfarm::StreamSocket> frames(sock);            // reads from sock (which must outlive it)
//     for (;;) {
//       auto frame = co_await frames.next();                           // Result<std::optional<ConstBytes>>
//       if (!frame) co_return frame.error();                           // I/O error, frame_too_large, ...
//       if (!*frame) break;                                            // clean end of stream between frames
//       handle(**frame);                                               // valid until the next call on frames
//     }
//     // Or everything that arrived in one receive, with one await:
//     auto n = co_await frames.next_batch([&](rfarm::ConstBytes f) { handle(f); });   // Result<size_t>, 0: end
//     // Or as a state machine, with no coroutine at all (handlers run from the loop, never inside the call):
//     frames.async_next_batch([this](rfarm::ConstBytes f) { handle(f); },
//                             [this](rfarm::Result<std::size_t> n) { if (n && *n) rearm(); else close(); });
//
// Frames are handed out as views into the receive buffer, with no copy, as long as a frame lies in one
// buffer (a payload's view is always preceded, in the same buffer, by its length prefix: a caller may look at
// the whole frame, prefix included, by stepping back over the prefix); frames split across receives are reassembled (a frame larger than a pool buffer goes to a heap block that
// grows with the bytes that really arrived, at most doubling per receive up to the frame's size, so a declared
// length alone pins no memory; the block never grows past its frame, so no later bytes share it and it goes
// back as soon as the frame is consumed). Many frames that arrived together are handed out
// without a syscall each. A declared length above options.max_frame_size fails with Errc::frame_too_large
// (condition std::errc::message_size) before anything of that size is allocated; a zero-length frame is
// a frame (an empty view) unless options.allow_empty_frames is false (then Errc::empty_frame). The end of the
// stream between frames is a clean end (nullopt, or 0 frames from a batch); inside a frame it is
// Errc::truncated_frame. Errors are sticky: the framing is lost, so close the connection.
//
// Memory: a receive buffer is leased from a BufferPool (the stream's reactor's receive pool by default) only
// while bytes are pending; a reader waiting for the next frame holds none (with recv_pooled, where the stream
// has it, the buffer is leased when data arrives). No call allocates in the steady state: the awaitables
// wrap the stream's own and the one coroutine frame that resumes the reader after a receive
// (lib/callback_coroutine.hpp) is made on the first wait and reused, as are async_next_batch's handlers
// (made at its first call, so a coroutine-driven reader does not carry them).
//
// One call at a time (next, next_batch or async_next_batch). Destroying a coroutine that awaits a call, or the
// reader during async_next_batch, abandons the receive in flight.
#pragma once

#include <algorithm>
#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <system_error>
#include <utility>

#include "lib/buffer_pool.hpp"
#include "lib/bytes.hpp"
#include "lib/callback_coroutine.hpp"
#include "lib/error.hpp"
#include "lib/inplace_function.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/stream/byte_stream.hpp"
#include "reactor/stream/detail/awaiter_slot.hpp"
#include "reactor/stream/stream_buffers.hpp"

namespace rfarm {

// How a frame's payload length is written in front of it.
enum class FramePrefix : std::uint8_t { u32_le, u32_be, u16_le, u16_be };

struct FrameReaderOptions {
  FramePrefix prefix = FramePrefix::u32_le;
  std::size_t max_frame_size = std::size_t{64} << 20;  // payload bytes; a larger declared length is an error
  bool allow_empty_frames = true;
};

namespace detail {

// What the buffered bytes hold, for a reader with these options.
enum class FrameScan : std::uint8_t { complete, partial, invalid };

struct FrameLayout {
  std::size_t header;   // prefix bytes
  std::size_t payload;  // payload bytes (valid once the header is buffered)
};

// Looks at the front of `buffered`: a complete frame (layout says where), a partial one (layout.header +
// layout.payload is how many bytes the frame needs, or the header size while the header is incomplete), or
// an invalid header (ec says why).
FrameScan scan_frame(ConstBytes buffered, const FrameReaderOptions& options, FrameLayout& layout,
                     std::error_code& ec) noexcept;

// The prefix for a payload of `size` bytes (writers, tests): its bytes in out, their count returned.
std::size_t encode_frame_prefix(FramePrefix prefix, std::size_t size, std::byte (&out)[4]) noexcept;

}  // namespace detail

template <ByteStream S>
class FrameReader {
  using RecvAwaiter = decltype(std::declval<S&>().recv(std::declval<MutableBytes>()));
  template <class T>
  struct PooledAwaiterOf {
    using type = RecvAwaiter;
  };
  template <PooledReceiver T>
  struct PooledAwaiterOf<T> {
    using type = decltype(std::declval<T&>().recv_pooled());
  };
  using PooledAwaiter = typename PooledAwaiterOf<S>::type;

 public:
  using FrameHandler = InplaceFunction<void(ConstBytes), 64>;
  using DoneHandler = InplaceFunction<void(Result<std::size_t>), 64>;

  // Leases its receive buffers from pool (which must outlive the reader).
  FrameReader(S& stream, BufferPool& pool, FrameReaderOptions options = {}) noexcept
      : stream_(&stream), in_(pool), options_(options) {}
  // Leases them from the stream's reactor's receive pool.
  explicit FrameReader(S& stream, FrameReaderOptions options = {}) noexcept
    requires HasReactor<S>
      : FrameReader(stream, stream.reactor().receive_pool(), options) {}
  FrameReader(const FrameReader&) = delete;  // receives in flight point at it
  FrameReader& operator=(const FrameReader&) = delete;

  const FrameReaderOptions& options() const noexcept { return options_; }
  // Whether a receive buffer is held (only while bytes of an unfinished frame, or a frame handed out by
  // next() and not yet released by the following call, are buffered).
  bool holds_buffer() const noexcept { return in_.holds_storage(); }
  // Bytes buffered and not yet handed out.
  std::size_t buffered() const noexcept { return in_.size(); }

  class [[nodiscard]] NextAwaitable;
  template <class Fn>
  class [[nodiscard]] BatchAwaitable;

  // The next frame's payload (a view valid until the next call on this reader); nullopt at a clean end.
  NextAwaitable next() noexcept { return NextAwaitable(*this); }

  // Calls on_frame(ConstBytes) for every complete frame buffered, after receiving until there is at least
  // one; -> Result<std::size_t> frames handed out (0: clean end of stream). Each view is valid during its
  // call only. Frames come before an error that follows them; the error comes with the next call.
  template <class Fn>
  BatchAwaitable<Fn> next_batch(Fn on_frame) noexcept {
    return BatchAwaitable<Fn>(*this, std::move(on_frame));
  }

  // next_batch without a coroutine: on_frame for every frame, then done with the count (or the error). Both
  // run from the loop, never inside this call; done may start the next batch or destroy the reader.
  void async_next_batch(FrameHandler on_frame, DoneHandler done)
    requires HasReactor<S>
  {
    assert(mode_ == Mode::idle);
    if (!callbacks_) callbacks_ = std::make_unique<Callbacks>(this);  // once: reused by every later call
    callbacks_->on_frame = std::move(on_frame);
    callbacks_->on_done = std::move(done);
    mode_ = Mode::callback;
    begin_call();
    if (pump()) stream_->reactor().at_end_of_turn(callbacks_->deliver_hook);  // answer on the loop, not inside this call
  }

 private:
  enum class Mode : std::uint8_t { idle, coroutine, callback };
  enum class Receiving : std::uint8_t { none, into_buffer, pooled };
  enum class Answer : std::uint8_t { frame, end, failed, need_more };

  // Starts a call: what the previous call handed out is no longer looked at.
  void begin_call() noexcept { in_.release_if_empty(); }

  // How many bytes the buffer should be able to hold for the next receive. The frame at the front needs
  // needed_, but its length is only what the peer declared: growing to it at once would let 4 bytes of
  // header pin max_frame_size of memory per connection. So the buffer at most doubles per receive (from one
  // pool buffer), and what it holds stays within twice the bytes that really arrived; a large frame costs
  // log2(size / unit) copies, O(size) in all.
  std::size_t receive_target() const noexcept {
    return std::min(needed_, std::max(in_.unit(), 2 * in_.size()));
  }

  // What the buffer answers now, without I/O. On frame, `frame` is the payload (not yet consumed).
  Answer answer(ConstBytes& frame, std::error_code& ec) noexcept {
    if (failure_) {
      ec = failure_;
      return Answer::failed;
    }
    detail::FrameLayout layout{};
    switch (detail::scan_frame(in_.data(), options_, layout, ec)) {
      case detail::FrameScan::complete: frame = in_.data().subspan(layout.header, layout.payload); return Answer::frame;
      case detail::FrameScan::invalid: failure_ = ec; return Answer::failed;
      case detail::FrameScan::partial: break;
    }
    if (receive_error_) {
      ec = failure_ = receive_error_;
      return Answer::failed;
    }
    if (ended_) {
      if (in_.empty()) return Answer::end;
      ec = failure_ = make_error_code(Errc::truncated_frame);
      return Answer::failed;
    }
    needed_ = layout.header + layout.payload;
    return Answer::need_more;
  }

  // Receives until the buffer answers something other than need_more: true if it does now, false if a
  // receive is pending (on_resumed carries on when it completes).
  bool pump() noexcept {
    for (;;) {
      ConstBytes frame;
      std::error_code ec;
      if (answer(frame, ec) != Answer::need_more) return true;
      if (!start_receive()) return false;
      finish_receive();
    }
  }

  // Starts one receive; true if it completed at once.
  bool start_receive() noexcept {
    if (!resumer_) {
      resumer_ = CallbackCoroutine::make();
      resumer_.set(&FrameReader::on_resumed, this);
    }
    if constexpr (PooledReceiver<S>) {
      if (in_.empty()) {  // lease the buffer when data arrives: a waiting reader holds none
        in_.release_if_empty();
        receiving_ = Receiving::pooled;
        auto& op = io_.template emplace<PooledAwaiter>([&] { return stream_->recv_pooled(); });
        return detail::start_awaiter(op, resumer_.handle());
      }
    }
    MutableBytes room = in_.space_for(receive_target());
    receiving_ = Receiving::into_buffer;
    auto& op = io_.template emplace<RecvAwaiter>([&] { return stream_->recv(room); });
    return detail::start_awaiter(op, resumer_.handle());
  }

  // Takes the result of the receive that completed.
  void finish_receive() noexcept {
    if constexpr (PooledReceiver<S>) {
      if (receiving_ == Receiving::pooled) {
        Result<PooledBuffer> got = io_.template get<PooledAwaiter>().await_resume();
        io_.reset();
        receiving_ = Receiving::none;
        if (!got) {
          receive_error_ = got.error();
        } else if (got->empty()) {
          ended_ = true;
        } else {
          in_.adopt(std::move(*got));
        }
        return;
      }
    }
    Result<std::size_t> got = io_.template get<RecvAwaiter>().await_resume();
    io_.reset();
    receiving_ = Receiving::none;
    if (!got) {
      receive_error_ = got.error();
    } else if (*got == 0) {
      ended_ = true;
    } else {
      in_.commit(*got);
    }
    if (in_.empty()) in_.release_if_empty();  // nothing came: hold no buffer at the end
  }

  // Runs when a pending receive completes (the reader's CallbackCoroutine), with that coroutine suspended.
  static std::coroutine_handle<> on_resumed(void* context) noexcept {
    auto& self = *static_cast<FrameReader*>(context);
    self.finish_receive();
    if (!self.pump()) return std::noop_coroutine();  // waits again
    if (self.mode_ == Mode::coroutine) {
      self.mode_ = Mode::idle;
      return std::exchange(self.waiter_, {});  // the awaiting coroutine takes its answer in await_resume
    }
    self.deliver_batch();
    return std::noop_coroutine();
  }

  // Consumes and returns the next frame, or the end / an error (after pump() returned true).
  Result<std::optional<ConstBytes>> take_next() noexcept {
    ConstBytes frame;
    std::error_code ec;
    switch (answer(frame, ec)) {
      case Answer::frame: in_.consume(options_header() + frame.size()); return frame;
      case Answer::end: return std::nullopt;
      case Answer::failed:
      case Answer::need_more: break;
    }
    return fail(ec);
  }

  // Hands every complete frame to on_frame; the count, or the error if none was complete.
  template <class Fn>
  Result<std::size_t> take_batch(Fn& on_frame) {
    std::size_t count = 0;
    for (;;) {
      ConstBytes frame;
      std::error_code ec;
      Answer a = answer(frame, ec);
      if (a != Answer::frame) {
        in_.release_if_empty();  // the views were only valid during their calls
        if (a == Answer::failed && count == 0) return fail(ec);
        return count;
      }
      in_.consume(options_header() + frame.size());
      ++count;
      on_frame(frame);
    }
  }

  void deliver_batch() noexcept {
    mode_ = Mode::idle;
    FrameHandler on_frame = std::move(callbacks_->on_frame);
    DoneHandler done = std::move(callbacks_->on_done);
    Result<std::size_t> result = take_batch(on_frame);
    done(result);  // last: it may destroy the reader
  }
  static void run_deliver(TurnHook& hook) noexcept { static_cast<DeliverHook&>(hook).reader->deliver_batch(); }

  std::size_t options_header() const noexcept {
    return options_.prefix == FramePrefix::u16_le || options_.prefix == FramePrefix::u16_be ? 2 : 4;
  }

  // A pending coroutine-style call whose awaiter goes away abandons its receive.
  void abandon() noexcept {
    io_.reset();
    receiving_ = Receiving::none;
    mode_ = Mode::idle;
    waiter_ = {};
  }

  S* stream_;
  detail::ReadBuffer in_;
  FrameReaderOptions options_;
  std::size_t needed_ = 0;  // bytes the frame at the front needs (while need_more)
  bool ended_ = false;
  std::error_code receive_error_;
  std::error_code failure_;  // sticky: the framing is lost

  Mode mode_ = Mode::idle;
  Receiving receiving_ = Receiving::none;
  std::coroutine_handle<> waiter_;
  struct DeliverHook : TurnHook {
    explicit DeliverHook(FrameReader* r) noexcept : TurnHook(&FrameReader::run_deliver), reader(r) {}
    FrameReader* reader;
  };
  // What async_next_batch needs (~200 B), made at its first call: a reader driven by a coroutine (next,
  // next_batch), such as each of a server's thousands of idle connections, does not carry it.
  struct Callbacks {
    explicit Callbacks(FrameReader* r) noexcept : deliver_hook(r) {}
    FrameHandler on_frame;
    DoneHandler on_done;
    DeliverHook deliver_hook;
  };
  std::unique_ptr<Callbacks> callbacks_;
  CallbackCoroutine resumer_;
  detail::AwaiterSlot<RecvAwaiter, PooledAwaiter> io_;  // last: abandoned first, before the buffer it fills
};

// co_await reader.next(): a frame, the end, or an error.
template <ByteStream S>
class FrameReader<S>::NextAwaitable {
 public:
  explicit NextAwaitable(FrameReader& reader) noexcept : reader_(&reader) {}
  NextAwaitable(NextAwaitable&& other) noexcept : reader_(std::exchange(other.reader_, nullptr)) {}
  NextAwaitable(const NextAwaitable&) = delete;
  ~NextAwaitable() {
    if (reader_ != nullptr && reader_->mode_ == Mode::coroutine) reader_->abandon();
  }

  bool await_ready() noexcept {
    reader_->begin_call();
    ConstBytes frame;
    std::error_code ec;
    return reader_->answer(frame, ec) != Answer::need_more;
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    reader_->mode_ = Mode::coroutine;
    reader_->waiter_ = waiter;
    if (!reader_->pump()) return true;
    reader_->mode_ = Mode::idle;  // answered at once: carry on without suspending
    return false;
  }
  Result<std::optional<ConstBytes>> await_resume() noexcept { return reader_->take_next(); }

 private:
  FrameReader* reader_;
};

// co_await reader.next_batch(fn): every buffered frame to fn, after at least one receive if none was.
template <ByteStream S>
template <class Fn>
class FrameReader<S>::BatchAwaitable {
 public:
  BatchAwaitable(FrameReader& reader, Fn on_frame) noexcept : reader_(&reader), on_frame_(std::move(on_frame)) {}
  BatchAwaitable(BatchAwaitable&& other) noexcept
      : reader_(std::exchange(other.reader_, nullptr)), on_frame_(std::move(other.on_frame_)) {}
  BatchAwaitable(const BatchAwaitable&) = delete;
  ~BatchAwaitable() {
    if (reader_ != nullptr && reader_->mode_ == Mode::coroutine) reader_->abandon();
  }

  bool await_ready() noexcept {
    reader_->begin_call();
    ConstBytes frame;
    std::error_code ec;
    return reader_->answer(frame, ec) != Answer::need_more;
  }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    reader_->mode_ = Mode::coroutine;
    reader_->waiter_ = waiter;
    if (!reader_->pump()) return true;
    reader_->mode_ = Mode::idle;
    return false;
  }
  Result<std::size_t> await_resume() { return reader_->take_batch(on_frame_); }

 private:
  FrameReader* reader_;
  Fn on_frame_;
};

extern template class FrameReader<StreamSocket>;

}  // namespace rfarm

// Operation logics for connected stream sockets (see operation.hpp for how a logic becomes an awaitable or a
// handler operation). Internal to the socket layer.
#pragma once

#include "lib/buffer_pool.hpp"
#include "lib/bytes.hpp"
#include "reactor/backend/detail/operation.hpp"

namespace rfarm::detail {

// Advances msg's iovecs past n transferred bytes (in place); returns the bytes still to go.
std::size_t consume_iovecs(msghdr& msg, std::size_t n) noexcept;

struct RecvSome {
  static constexpr OpKind kind = OpKind::recv;
  using result_type = Result<std::size_t>;
  RecvSome() noexcept = default;
  RecvSome(MutableBytes b, int f) noexcept : buffer(b), flags(f) {}
  MutableBytes buffer;
  int flags = 0;
  void prepare(MsgOp& op) noexcept {
    op.set_buffer(buffer.data(), buffer.size());
    op.msg_flags = flags;
  }
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return static_cast<std::size_t>(op.result);
  }
};

// Holds no buffer and no msghdr while it waits: what an idle connection's pending receive costs is the 48-B
// operation core and an empty PooledBuffer.
struct RecvPooled {
  static constexpr OpKind kind = OpKind::recv_pooled;
  using op_type = PooledRecvOp;
  using result_type = Result<PooledBuffer>;
  void prepare(PooledRecvOp&) noexcept {}
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(PooledRecvOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return std::move(op.leased);  // empty at end of stream
  }
};

struct SendSome {
  static constexpr OpKind kind = OpKind::send;
  using result_type = Result<std::size_t>;
  SendSome() noexcept = default;
  SendSome(ConstBytes b, int f) noexcept : buffer(b), flags(f) {}
  ConstBytes buffer;
  int flags = 0;
  void prepare(MsgOp& op) noexcept {
    op.set_buffer(const_cast<std::byte*>(buffer.data()), buffer.size());
    op.msg_flags = flags;
  }
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return static_cast<std::size_t>(op.result);
  }
};

// Sends every byte of one buffer with send(2), no msghdr: the lean form of SendAll (72-B operation).
struct SendAllBuffer {
  static constexpr OpKind kind = OpKind::send_stream;
  using op_type = StreamSendOp;
  using result_type = Result<std::size_t>;
  SendAllBuffer() noexcept = default;
  explicit SendAllBuffer(ConstBytes b) noexcept : buffer(b) {}
  ConstBytes buffer;
  void prepare(StreamSendOp& op) noexcept {
    op.data = buffer.data();
    op.size = buffer.size();
    op.flags = 0;
  }
  Step advance(StreamSendOp& op) noexcept {
    if (op.result < 0) return Step::done;
    const auto n = static_cast<std::size_t>(op.result);
    op.data += n;
    op.size -= n;
    return op.size > 0 ? Step::again : Step::done;
  }
  result_type finish(StreamSendOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return buffer.size();
  }
};

// Sends every byte of a leased buffer with send(2) and gives the buffer back to its pool as soon as the send is
// done, before the result is reported: what a proxy or an echo forwards from recv_pooled, with no copy and
// nothing pinned afterwards. (A callback reports a send that finished at once on a later run of the
// completion queue; holding the buffer until then would make every connection served in one turn lease one.)
struct SendPooled {
  static constexpr OpKind kind = OpKind::send_stream;
  using op_type = StreamSendOp;
  using result_type = Result<std::size_t>;
  SendPooled() noexcept = default;
  explicit SendPooled(PooledBuffer b) noexcept : buffer(std::move(b)) {}
  PooledBuffer buffer;
  void prepare(StreamSendOp& op) noexcept {
    op.data = buffer.data();
    op.size = buffer.size();
    op.flags = 0;
  }
  Step advance(StreamSendOp& op) noexcept {
    if (op.result >= 0) {
      const auto n = static_cast<std::size_t>(op.result);
      op.data += n;
      op.size -= n;
      if (op.size > 0) return Step::again;
      op.result = static_cast<int>(buffer.size());  // what finish reports once the buffer is gone (pooled: < 2 GiB)
    }
    buffer.reset();
    return Step::done;
  }
  result_type finish(StreamSendOp& op) noexcept {
    buffer.reset();  // a send refused before it started (a closed socket) did not pass through advance
    if (op.result < 0) return fail(op_error(op));
    return static_cast<std::size_t>(op.result);
  }
};

// Sends every byte of one buffer or of a gather list (the iovecs are advanced in place).
struct SendAll {
  static constexpr OpKind kind = OpKind::send;
  using result_type = Result<std::size_t>;
  SendAll() noexcept = default;
  explicit SendAll(ConstBytes b) noexcept : buffer(b) {}
  SendAll(ConstBytes b, std::span<iovec> g) noexcept : buffer(b), gather(g) {}
  ConstBytes buffer;
  std::span<iovec> gather;  // used when non-empty
  std::size_t sent = 0;
  void prepare(MsgOp& op) noexcept {
    sent = 0;
    op.msg_flags = 0;
    if (gather.empty()) {
      op.set_buffer(const_cast<std::byte*>(buffer.data()), buffer.size());
    } else {
      op.msg.msg_iov = gather.data();
      op.msg.msg_iovlen = gather.size();
    }
  }
  Step advance(MsgOp& op) noexcept {
    if (op.result < 0) return Step::done;
    sent += static_cast<std::size_t>(op.result);
    return consume_iovecs(op.msg, static_cast<std::size_t>(op.result)) > 0 ? Step::again : Step::done;
  }
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return sent;
  }
};

// Fills the whole buffer; a peer that closes first gives Errc::end_of_stream.
struct RecvExactly {
  static constexpr OpKind kind = OpKind::recv;
  using result_type = Result<std::size_t>;
  RecvExactly() noexcept = default;
  explicit RecvExactly(MutableBytes b) noexcept : buffer(b) {}
  MutableBytes buffer;
  std::size_t received = 0;
  void prepare(MsgOp& op) noexcept {
    received = 0;
    op.msg_flags = 0;
    op.set_buffer(buffer.data(), buffer.size());
  }
  Step advance(MsgOp& op) noexcept {
    if (op.result <= 0) return Step::done;
    received += static_cast<std::size_t>(op.result);
    return consume_iovecs(op.msg, static_cast<std::size_t>(op.result)) > 0 ? Step::again : Step::done;
  }
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    if (received < buffer.size()) return fail(Errc::end_of_stream);
    return received;
  }
};

// connect(), with an optional deadline after which the attempt is cancelled and reports timed_out.
struct ConnectLogic : TimerNode {
  static constexpr OpKind kind = OpKind::connect;
  using result_type = std::error_code;

  ConnectLogic() noexcept : TimerNode(&ConnectLogic::on_timeout) {}
  ConnectLogic(Reactor& r, const Address& a, Duration t) noexcept
      : TimerNode(&ConnectLogic::on_timeout), reactor(&r), address(a), timeout(t) {}
  ~ConnectLogic() {
    if (reactor) reactor->remove_timer(*this);
  }

  void prepare(MsgOp& op) noexcept {
    self = &op;
    timed_out = false;
    op.backend_state = 0;
    op.msg.msg_name = const_cast<sockaddr*>(address.native());
    op.msg.msg_namelen = address.native_length();
    if (timeout.count() > 0) {
      reactor->remove_timer(*this);
      reactor->add_timer(*this, timeout);
    }
  }
  Step advance(IoOp&) noexcept {
    reactor->remove_timer(*this);
    return Step::done;
  }
  result_type finish(MsgOp& op) noexcept {
    if (timed_out) return make_error_code(Errc::timed_out);
    return op.result < 0 ? op_error(op) : std::error_code{};
  }

  static void on_timeout(TimerNode& node) noexcept {
    auto& self = static_cast<ConnectLogic&>(node);
    self.timed_out = true;
    if (self.self->pending) self.self->backend->cancel(*self.self);
  }

  Reactor* reactor = nullptr;
  Address address;
  Duration timeout{0};
  IoOp* self = nullptr;
  bool timed_out = false;
};

}  // namespace rfarm::detail

// Operation logics for message sockets: UDP, Unix SOCK_DGRAM and SOCK_SEQPACKET (see operation.hpp for how a
// logic becomes an awaitable or a handler operation). Each receive reports the sender and whether the message
// was cut short; the batched ones move up to kMaxBatch datagrams per syscall.
//
// recvmmsg / sendmmsg are not operations of the backend seam: the batch logics call them directly on the
// non-blocking descriptor first, and only when that would block wait for readiness (wait_readable /
// wait_writable, which both backends provide) and try again.
#pragma once

#include <sys/socket.h>

#include <array>
#include <span>

#include "lib/bytes.hpp"
#include "reactor/net/address.hpp"
#include "reactor/backend/operation.hpp"

namespace rfarm {

// One received datagram (or Unix record).
struct Datagram {
  std::size_t size = 0;    // bytes placed in the buffer
  std::size_t length = 0;  // the message's real length: with MSG_TRUNC in the receive flags it exceeds size
                           // when truncated (recv(2), udp(7), unix(7)); without, it equals size
  Address sender;          // unspecified when the kernel names no sender: a Unix sender that never bound
                           // (unix(7) "unnamed"), or the peer of a connected record socket
  bool truncated = false;  // longer than the buffer: the rest is gone (MSG_TRUNC in msg_flags)
};

// One datagram to send in a batch.
struct OutgoingDatagram {
  ConstBytes data;
  const Address* to = nullptr;  // nullptr: the connected peer
};

namespace detail {

constexpr std::size_t kMaxBatch = 64;  // datagrams per recvmmsg / sendmmsg

// recvmsg of one message with its sender's name.
struct RecvFrom {
  static constexpr OpKind kind = OpKind::recv;
  using result_type = Result<Datagram>;
  RecvFrom() noexcept = default;
  RecvFrom(MutableBytes b, int f) noexcept : buffer(b), flags(f) {}
  MutableBytes buffer;
  int flags = 0;
  sockaddr_storage name{};
  void prepare(IoOp& op) noexcept {
    op.set_buffer(buffer.data(), buffer.size());
    op.msg.msg_name = &name;
    op.msg.msg_namelen = sizeof name;
    op.msg.msg_control = nullptr;
    op.msg.msg_controllen = 0;
    op.msg.msg_flags = 0;
    op.msg_flags = flags;
  }
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(IoOp& op) noexcept;
};

// sendmsg of one message, to a named destination or (to unspecified) the connected peer.
struct SendTo {
  static constexpr OpKind kind = OpKind::send;
  using result_type = Result<std::size_t>;
  SendTo() noexcept = default;
  SendTo(ConstBytes b, const Address& a, int f) noexcept : buffer(b), to(a), flags(f) {}
  ConstBytes buffer;
  Address to;
  int flags = 0;
  void prepare(IoOp& op) noexcept {
    op.set_buffer(const_cast<std::byte*>(buffer.data()), buffer.size());
    bool named = to.family() != AddressFamily::unspecified;
    op.msg.msg_name = named ? to.native() : nullptr;
    op.msg.msg_namelen = named ? to.native_length() : 0;
    op.msg.msg_control = nullptr;
    op.msg.msg_controllen = 0;
    op.msg_flags = flags;
  }
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(IoOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return static_cast<std::size_t>(op.result);
  }
};

// recvmmsg: waits until at least one datagram is there, then takes as many as are queued (up to the number of
// buffers, the number of result slots and kMaxBatch). Result: how many; received[i] describes buffers[i].
struct RecvBatch {
  static constexpr OpKind kind = OpKind::wait_readable;
  using result_type = Result<std::size_t>;
  RecvBatch() noexcept = default;
  RecvBatch(std::span<const MutableBytes> b, std::span<Datagram> r, int f) noexcept
      : buffers(b), received(r), flags(f) {}
  std::span<const MutableBytes> buffers;
  std::span<Datagram> received;
  int flags = 0;
  std::array<mmsghdr, kMaxBatch> headers{};
  std::array<iovec, kMaxBatch> iovecs{};

  void prepare(IoOp& op) noexcept { op.result = 0; }
  bool attempt(IoOp& op) noexcept;
  Step advance(IoOp& op) noexcept { return op.result < 0 ? Step::done : Step::again; }
  result_type finish(IoOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return static_cast<std::size_t>(op.result);
  }
};

// sendmmsg: sends every datagram, waiting for buffer space when the socket is full. Like sendmmsg(2), an error
// after some datagrams went out ends the batch early and the result is how many went; the error itself shows
// on the next send. An error before any went out is the result.
struct SendBatch {
  static constexpr OpKind kind = OpKind::wait_writable;
  using result_type = Result<std::size_t>;
  SendBatch() noexcept = default;
  SendBatch(std::span<const OutgoingDatagram> d, int f) noexcept : datagrams(d), flags(f) {}
  std::span<const OutgoingDatagram> datagrams;
  int flags = 0;
  std::size_t sent = 0;
  std::array<mmsghdr, kMaxBatch> headers{};
  std::array<iovec, kMaxBatch> iovecs{};

  void prepare(IoOp& op) noexcept {
    sent = 0;
    op.result = 0;
  }
  bool attempt(IoOp& op) noexcept;
  Step advance(IoOp& op) noexcept { return op.result < 0 ? Step::done : Step::again; }
  result_type finish(IoOp& op) noexcept {
    if (op.result < 0 && sent == 0) return fail(op_error(op));
    return sent;
  }
};

}  // namespace detail
}  // namespace rfarm

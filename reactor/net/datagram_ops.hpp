// Operation logics for message sockets: UDP, Unix SOCK_DGRAM and SOCK_SEQPACKET (see operation.hpp for how a
// logic becomes an awaitable or a handler operation). Each receive reports the sender, and a message cut short
// as an error (see Datagram); the batched ones move up to kMaxBatch datagrams per syscall.
//
// recvmmsg / sendmmsg are not operations of the backend seam: the batch logics call them directly on the
// non-blocking descriptor first, and only when that would block wait for readiness (wait_readable /
// wait_writable, which both backends provide) and try again.
#pragma once

#include <sys/socket.h>

#include <array>
#include <span>
#include <vector>

#include "lib/bytes.hpp"
#include "lib/error.hpp"
#include "reactor/backend/detail/operation.hpp"
#include "reactor/net/address.hpp"

namespace rfarm {

// One received datagram (or Unix record).
//
// A truncated message is an error, never a short message. The kernel cuts a datagram or record longer than
// the buffer and discards the rest (MSG_TRUNC), and drops descriptors or credentials that find no room for
// their control message (MSG_CTRUNC; recv(2), unix(7)). So:
//  * A single receive (recv, recv_from, recv_with_fds; seqpacket and datagram sockets alike) fails with
//    Errc::message_truncated (matches std::errc::message_size) or Errc::control_truncated. The message is
//    gone; the next receive gets the next one, whole.
//  * Unless its flags hold MSG_PEEK or MSG_TRUNC: the caller asked to see the cut itself (a peek loses
//    nothing; MSG_TRUNC asks for the real length) and gets the Datagram with its flags. A buffer for a record
//    of any size:  auto next = co_await sock.recv({}, MSG_PEEK | MSG_TRUNC);  // next->length: the whole size
//  * A batch (recv_batch) cannot fail for one datagram without losing the whole ones the same recvmmsg took,
//    so each Datagram carries its own outcome: use received[i] only if received[i].error() is empty.
struct Datagram {
  std::size_t size = 0;    // bytes placed in the buffer
  std::size_t length = 0;  // the message's real length: with MSG_TRUNC in the receive flags it exceeds size
                           // when truncated (recv(2), udp(7), unix(7)); without, it equals size
  Address sender;          // unspecified when the kernel names no sender: a Unix sender that never bound
                           // (unix(7) "unnamed"), or the peer of a connected record socket

  bool truncated = false;          // longer than the buffer: the rest is gone (MSG_TRUNC in msg_flags)
  bool control_truncated = false;  // its ancillary data was cut (MSG_CTRUNC): passed descriptors are lost

  // Errc::message_truncated, Errc::control_truncated, or no error: whether the message arrived whole.
  std::error_code error() const noexcept {
    if (truncated) return Errc::message_truncated;
    if (control_truncated) return Errc::control_truncated;
    return {};
  }
};

// One datagram to send in a batch.
struct OutgoingDatagram {
  ConstBytes data;
  const Address* to = nullptr;  // nullptr: the connected peer
};

// What one recv_batch / send_batch round works on, in the shape every batched datagram server needs: a buffer
// per datagram of the batch (one block), what recv_batch says of each, and the datagrams to send back:
//     DatagramBatch batch;
//     auto n = co_await sock.recv_batch(batch.buffers, batch.received);
// The default size holds any UDP payload: at most 65507 bytes over IPv4 (65535 less the IP and UDP headers) and
// 65527 over IPv6 without jumbograms (udp(7), RFC 2675), so no datagram is ever cut.
struct DatagramBatch {
  explicit DatagramBatch(std::size_t datagram_size = 65536);
  std::vector<std::byte> storage;
  std::vector<MutableBytes> buffers;
  std::vector<Datagram> received;
  std::vector<OutgoingDatagram> replies;
};

namespace detail {

constexpr std::size_t kMaxBatch = 64;  // datagrams per recvmmsg / sendmmsg

// What a single receive reports for the kernel's msg_flags (see Datagram): an error for a cut message, unless
// the request's flags (MSG_PEEK, MSG_TRUNC) say the caller handles the cut itself.
inline std::error_code truncation_error(int msg_flags, int requested) noexcept {
  if (requested & (MSG_PEEK | MSG_TRUNC)) return {};
  if (msg_flags & MSG_TRUNC) return Errc::message_truncated;
  if (msg_flags & MSG_CTRUNC) return Errc::control_truncated;
  return {};
}

// recvmsg of one message with its sender's name. A cut message is an error (see Datagram). The name also keeps
// the request a RECVMSG on io_uring: only recvmsg reports msg_flags, and with them MSG_TRUNC / MSG_CTRUNC.
struct RecvFrom {
  static constexpr OpKind kind = OpKind::recv;
  using result_type = Result<Datagram>;
  RecvFrom() noexcept = default;
  RecvFrom(MutableBytes b, int f) noexcept : buffer(b), flags(f) {}
  MutableBytes buffer;
  int flags = 0;
  sockaddr_storage name{};
  void prepare(MsgOp& op) noexcept {
    op.set_buffer(buffer.data(), buffer.size());
    op.msg.msg_name = &name;
    op.msg.msg_namelen = sizeof name;
    op.msg.msg_control = nullptr;
    op.msg.msg_controllen = 0;
    op.msg.msg_flags = 0;
    op.msg_flags = flags;
  }
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(MsgOp& op) noexcept;
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
  void prepare(MsgOp& op) noexcept {
    op.set_buffer(const_cast<std::byte*>(buffer.data()), buffer.size());
    bool named = to.family() != AddressFamily::unspecified;
    op.msg.msg_name = named ? to.native() : nullptr;
    op.msg.msg_namelen = named ? to.native_length() : 0;
    op.msg.msg_control = nullptr;
    op.msg.msg_controllen = 0;
    op.msg_flags = flags;
  }
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return static_cast<std::size_t>(op.result);
  }
};

// recvmmsg: waits until at least one datagram is there, then takes as many as are queued (up to the number of
// buffers, the number of result slots and kMaxBatch). Result: how many; received[i] describes buffers[i], and
// received[i].error() says whether it was cut (see Datagram).
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

  void prepare(MsgOp& op) noexcept { op.result = 0; }
  bool attempt(MsgOp& op) noexcept;
  Step advance(MsgOp& op) noexcept { return op.result < 0 ? Step::done : Step::again; }
  result_type finish(MsgOp& op) noexcept {
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

  void prepare(MsgOp& op) noexcept {
    sent = 0;
    op.result = 0;
  }
  bool attempt(MsgOp& op) noexcept;
  Step advance(MsgOp& op) noexcept { return op.result < 0 ? Step::done : Step::again; }
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0 && sent == 0) return fail(op_error(op));
    return sent;
  }
};

}  // namespace detail
}  // namespace rfarm

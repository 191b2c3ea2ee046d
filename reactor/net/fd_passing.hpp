// Passing file descriptors over Unix-domain sockets (SCM_RIGHTS, unix(7)) and asking who the peer is
// (SO_PEERCRED). Works on stream, datagram and seqpacket Unix sockets, on both backends (the msghdr carries
// the control data).
//
//     co_await rfarm::send_fds(sock, rfarm::as_bytes("x"), std::array{pipe_fd});   // any Unix Socket
//     auto msg = co_await rfarm::recv_with_fds(sock, buffer);   // Result<MessageWithFds>, fds owned
//     auto cred = sock.get<rfarm::option::PeerCredentials>();   // ->pid(), ->uid(), ->gid()
//
// Received descriptors are close-on-exec (MSG_CMSG_CLOEXEC). A message whose descriptors did not fit
// (MSG_CTRUNC: more than kMaxPassedFds) fails with Errc::control_truncated, and a datagram or record longer than
// the buffer with Errc::message_truncated (unless MSG_PEEK / MSG_TRUNC was asked for, as for Datagram); the
// descriptors that did arrive are closed, and no other descriptor is touched.
#pragma once

#include <sys/socket.h>

#include <span>
#include <vector>

#include "lib/bytes.hpp"
#include "reactor/net/address.hpp"
#include "reactor/net/stream_ops.hpp"
#include "reactor/net/unique_fd.hpp"

namespace rfarm {

// The most descriptors one message carries here (the kernel's limit, SCM_MAX_FD, is 253).
constexpr std::size_t kMaxPassedFds = 64;

struct MessageWithFds {
  std::size_t size = 0;        // bytes placed in the buffer; 0 with no fds at end of stream (stream/seqpacket)
  bool truncated = false;      // a datagram / record longer than the buffer (MSG_TRUNC): only with MSG_PEEK or
                               // MSG_TRUNC in the flags; otherwise that is Errc::message_truncated
  Address sender;              // a datagram's sender when the kernel names one
  std::vector<UniqueFd> fds;   // the descriptors that came with the message, in order
};

namespace option {
// SO_PEERCRED (socket(7), unix(7)): the process that connected (or created the pair), as of connect time.
// Get-only. sock.get<PeerCredentials>()->pid()
struct PeerCredentials {
  static constexpr int level = SOL_SOCKET;
  static constexpr int name = SO_PEERCRED;
  pid_t pid() const noexcept { return value.pid; }
  uid_t uid() const noexcept { return value.uid; }
  gid_t gid() const noexcept { return value.gid; }
  void* data() noexcept { return &value; }
  socklen_t size() const noexcept { return sizeof value; }
  void resize(socklen_t) noexcept {}
  ucred value{};
};
}  // namespace option

namespace detail {

constexpr std::size_t kFdControlSpace = CMSG_SPACE(sizeof(int) * kMaxPassedFds);

// sendmsg with an SCM_RIGHTS message; on a stream socket it sends every byte (the descriptors go with the
// first part).
struct SendWithFds {
  static constexpr OpKind kind = OpKind::send;
  using result_type = Result<std::size_t>;
  SendWithFds() noexcept = default;
  SendWithFds(ConstBytes b, std::span<const int> f, const Address& a) noexcept : buffer(b), fds(f), to(a) {}
  ConstBytes buffer;
  std::span<const int> fds;
  Address to;  // unspecified: the connected peer
  std::size_t sent = 0;
  alignas(cmsghdr) std::byte control[kFdControlSpace];

  void prepare(MsgOp& op) noexcept;
  // Refuses more descriptors than the control buffer holds before anything is sent.
  bool attempt(MsgOp& op) noexcept {
    if (fds.size() <= kMaxPassedFds) return false;
    op.result = -EINVAL;
    return true;
  }
  Step advance(MsgOp& op) noexcept;
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return sent;
  }
};

// recvmsg with room for kMaxPassedFds descriptors.
struct RecvWithFds {
  static constexpr OpKind kind = OpKind::recv;
  using result_type = Result<MessageWithFds>;
  RecvWithFds() noexcept = default;
  RecvWithFds(MutableBytes b, int f) noexcept : buffer(b), flags(f) {}
  MutableBytes buffer;
  int flags = 0;
  sockaddr_storage name{};
  alignas(cmsghdr) std::byte control[kFdControlSpace];

  void prepare(MsgOp& op) noexcept;
  Step advance(IoOp&) noexcept { return Step::done; }
  result_type finish(MsgOp& op) noexcept;
};

}  // namespace detail

// Coroutine forms for any Unix socket (StreamSocket included). The data must not be empty on a stream socket:
// descriptors travel with bytes there (unix(7)).
inline detail::OperationAwaitable<detail::SendWithFds> send_fds(Socket& sock, ConstBytes data,
                                                                 std::span<const int> fds) noexcept {
  return detail::OperationAwaitable<detail::SendWithFds>(sock.state(), data, fds, Address{});
}
inline detail::OperationAwaitable<detail::RecvWithFds> recv_with_fds(Socket& sock, MutableBytes buffer,
                                                                     int flags = 0) noexcept {
  return detail::OperationAwaitable<detail::RecvWithFds>(sock.state(), buffer, flags);
}

}  // namespace rfarm

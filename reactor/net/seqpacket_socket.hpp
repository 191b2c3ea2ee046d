// Unix-domain SOCK_SEQPACKET: connected, reliable, ordered, and with record boundaries (unix(7)): each send is
// one record, each receive returns one record, whole. A record longer than the buffer fails the receive with
// Errc::message_truncated (std::errc::message_size) and is gone; peek its length first to take any size:
//     auto next = co_await conn.recv({}, MSG_PEEK | MSG_TRUNC);   // next->length: the record's whole size
//
//     auto listener = rfarm::SeqPacketListener::listen(reactor, rfarm::Address::unix_path(path).value(),
//                                                     {.bind = {.unix_mode = 0600}}).value();
//     auto conn = co_await listener.accept();             // Result<SeqPacketSocket>
//     auto rec = co_await conn->recv(buffer);             // Result<Datagram>: size; size 0: closed
//     co_await conn->send(rfarm::as_bytes("one record"));
//     auto who = conn->peer_credentials();                // SO_PEERCRED: pid, uid, gid
//
// Descriptors travel with records (send_fds / recv_with_fds). The listener backs off on EMFILE like
// StreamListener (it reuses its accept logic).
#pragma once

#include <utility>

#include "reactor/net/datagram_ops.hpp"
#include "reactor/net/fd_passing.hpp"
#include "reactor/net/stream_listener.hpp"

namespace rfarm {

namespace detail {
struct SeqPacketState final : SocketState {
  // Not a stream for the backend: a short read is one short record, not a drained queue.
  SeqPacketState(Reactor& r, int fd) noexcept : SocketState(r, fd, false) {}
  HandlerOperation<RecvFrom> recv;
  HandlerOperation<SendTo> send;
  HandlerOperation<RecvWithFds> recv_with_fds;
  HandlerOperation<SendWithFds> send_fds;
  HandlerOperation<ConnectLogic> connect;
};
}  // namespace detail

class SeqPacketSocket : public Socket {
 public:
  SeqPacketSocket() noexcept = default;

  static Result<SeqPacketSocket> open(Reactor& reactor);
  static SeqPacketSocket adopt(Reactor& reactor, int fd) noexcept;
  static Result<std::pair<SeqPacketSocket, SeqPacketSocket>> pair(Reactor& reactor);
  // Opens a socket and connects it to a listening path or abstract name.
  static Task<Result<SeqPacketSocket>> connect(Reactor& reactor, Address address);

  using ConnectAwaitable = detail::OperationAwaitable<detail::ConnectLogic>;
  using RecvAwaitable = detail::OperationAwaitable<detail::RecvFrom>;
  using SendAwaitable = detail::OperationAwaitable<detail::SendTo>;
  using RecvWithFdsAwaitable = detail::OperationAwaitable<detail::RecvWithFds>;
  using SendWithFdsAwaitable = detail::OperationAwaitable<detail::SendWithFds>;

  // --- coroutine style --------------------------------------------------------------------------------
  ConnectAwaitable connect_to(const Address& address) noexcept {
    return ConnectAwaitable(state(), reactor(), address, Duration(0));
  }
  // One record, whole; size 0 once the peer closed. Longer than the buffer: Errc::message_truncated, unless
  // flags hold MSG_PEEK or MSG_TRUNC (then Datagram::truncated, and with MSG_TRUNC length is the real length).
  RecvAwaitable recv(MutableBytes buffer, int flags = 0) noexcept { return RecvAwaitable(state(), buffer, flags); }
  // One record, whole (EMSGSIZE if it exceeds the socket's send buffer).
  SendAwaitable send(ConstBytes record, int flags = 0) noexcept {
    return SendAwaitable(state(), record, Address{}, flags);
  }
  SendWithFdsAwaitable send_fds(ConstBytes record, std::span<const int> fds) noexcept {
    return SendWithFdsAwaitable(state(), record, fds, Address{});
  }
  RecvWithFdsAwaitable recv_with_fds(MutableBytes buffer, int flags = 0) noexcept {
    return RecvWithFdsAwaitable(state(), buffer, flags);
  }

  // --- callback style ---------------------------------------------------------------------------------
  using RecordHandler = detail::HandlerOperation<detail::RecvFrom>::Handler;
  using SizeHandler = detail::HandlerOperation<detail::SendTo>::Handler;
  using MessageHandler = detail::HandlerOperation<detail::RecvWithFds>::Handler;
  using ErrorHandler = detail::HandlerOperation<detail::ConnectLogic>::Handler;

  void async_connect(const Address& address, ErrorHandler handler);
  void async_recv(MutableBytes buffer, RecordHandler handler);
  void async_send(ConstBytes record, SizeHandler handler);
  void async_send_fds(ConstBytes record, std::span<const int> fds, SizeHandler handler);
  void async_recv_with_fds(MutableBytes buffer, MessageHandler handler);

  // SO_PEERCRED: who connected (or, for a listener's socket, who connected to us), as of connect time.
  Result<option::PeerCredentials> peer_credentials() const noexcept { return get<option::PeerCredentials>(); }
  std::error_code shutdown(ShutdownHow how) noexcept;

 private:
  explicit SeqPacketSocket(std::unique_ptr<detail::SeqPacketState> state) noexcept : Socket(std::move(state)) {}
  detail::SeqPacketState& packet_state() const noexcept { return static_cast<detail::SeqPacketState&>(*state_); }
};

namespace detail {
// StreamListener's accept (EMFILE back-off and all), producing SeqPacketSockets.
struct SeqPacketAcceptLogic : AcceptLogic {
  using result_type = Result<SeqPacketSocket>;
  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    return SeqPacketSocket::adopt(*static_cast<SocketState*>(op.handle)->reactor, op.result);
  }
};

struct SeqPacketListenerState final : ListenerState {
  SeqPacketListenerState(Reactor& r, int fd) noexcept : ListenerState(r, fd, false) { tcp = false; }
  HandlerOperation<SeqPacketAcceptLogic> accept_packet;
};
}  // namespace detail

class SeqPacketListener : public Socket {
 public:
  SeqPacketListener() noexcept = default;

  // Binds a Unix path (options.bind: unix_mode, what to do with a file there) or abstract name and listens.
  static Result<SeqPacketListener> listen(Reactor& reactor, const Address& address, const ListenOptions& options = {});

  using AcceptAwaitable = detail::OperationAwaitable<detail::SeqPacketAcceptLogic>;
  using AcceptHandler = detail::HandlerOperation<detail::SeqPacketAcceptLogic>::Handler;

  AcceptAwaitable accept() noexcept { return AcceptAwaitable(state()); }
  void async_accept(AcceptHandler handler);

 private:
  explicit SeqPacketListener(std::unique_ptr<detail::SeqPacketListenerState> state) noexcept
      : Socket(std::move(state)) {}
};

}  // namespace rfarm

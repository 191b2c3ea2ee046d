// DatagramSocket: UDP over IPv4 / IPv6 and Unix-domain SOCK_DGRAM (path, abstract or unnamed), bound or
// connected, in the two styles of every rfarm socket.
//
// Coroutines:
//     auto sock = rfarm::DatagramSocket::bind(reactor, rfarm::Address::loopback_v4(0)).value();
//     auto d = co_await sock.recv_from(buffer);          // Result<Datagram>: size, sender (cut: message_size)
//     co_await sock.send_to(rfarm::as_bytes("pong"), d->sender);
//     auto n = co_await sock.recv_batch(buffers, received);   // recvmmsg: up to 64 datagrams per syscall
//
// Callbacks (stored in the socket's state, handlers up to 64 bytes):
//     sock.async_recv_from(buffer, [this](rfarm::Result<rfarm::Datagram> d) { ... });
//
// Multicast options live in reactor/net/multicast.hpp (sock.set(multicast::JoinGroup(group, iface))); Unix
// sockets pass descriptors with send_fds / recv_with_fds (reactor/net/fd_passing.hpp). One callback operation of
// each kind may be pending at a time; close() completes pending operations with operation_canceled.
#pragma once

#include <span>
#include <utility>

#include "reactor/net/bind.hpp"
#include "reactor/net/datagram_ops.hpp"
#include "reactor/net/fd_passing.hpp"
#include "reactor/net/multicast.hpp"

namespace rfarm {

namespace detail {
struct DatagramState final : SocketState {
  DatagramState(Reactor& r, int fd, int f) noexcept : SocketState(r, fd, false), family(f) {}
  int family;
  HandlerOperation<RecvFrom> recv_from;
  HandlerOperation<SendTo> send_to;
  HandlerOperation<RecvBatch> recv_batch;
  HandlerOperation<SendBatch> send_batch;
  HandlerOperation<RecvWithFds> recv_with_fds;
  HandlerOperation<SendWithFds> send_fds;
};
}  // namespace detail

class DatagramSocket : public Socket {
 public:
  DatagramSocket() noexcept = default;

  // An unbound socket of the family (AF_INET, AF_INET6, AF_UNIX); the kernel picks a port (UDP) on first send,
  // a Unix one stays unnamed (peers cannot answer it) unless bound.
  static Result<DatagramSocket> open(Reactor& reactor, int family);
  // A socket bound to address; port 0 lets the kernel choose (local_address() tells which). A Unix path is
  // bound as bind.hpp describes (stale socket replaced, anything else refused, the file removed on close).
  static Result<DatagramSocket> bind(Reactor& reactor, const Address& address, const BindOptions& options = {});
  // A socket connected to peer: send()/recv() need no address, and datagrams from anyone else are dropped.
  static Result<DatagramSocket> connect(Reactor& reactor, const Address& peer);
  // Adopts a non-blocking SOCK_DGRAM descriptor (e.g. one made in another network namespace).
  static Result<DatagramSocket> adopt(Reactor& reactor, int fd);
  // A connected pair of Unix datagram sockets.
  static Result<std::pair<DatagramSocket, DatagramSocket>> pair(Reactor& reactor);

  std::error_code bind_to(const Address& address, const BindOptions& options = {});
  // Sets the default destination (connect(2) on a datagram socket returns at once). An unspecified address
  // dissolves the association again (AF_UNSPEC).
  std::error_code connect_to(const Address& peer) noexcept;
  // SO_BROADCAST: allows sending to a broadcast address (else EACCES, udp(7)).
  std::error_code set_broadcast(bool on) noexcept { return set(option::BoolOption<SOL_SOCKET, SO_BROADCAST>(on)); }
  int family() const noexcept { return datagram_state().family; }

  // Options of any kind: plain ones (Socket::set) and family options (multicast).
  using Socket::get;
  using Socket::set;
  template <option::FamilyOption O>
  std::error_code set(O opt) noexcept {
    int f = family();
    return set_option(opt.level(f), opt.name(f), opt.data(f), opt.size(f));
  }
  template <option::FamilyOption O>
  Result<O> get() const noexcept {
    O opt;
    int f = family();
    socklen_t size = opt.size(f);
    if (std::error_code ec = get_option(opt.level(f), opt.name(f), opt.data(f), &size)) return fail(ec);
    opt.resize(f, size);
    return opt;
  }

  using RecvFromAwaitable = detail::OperationAwaitable<detail::RecvFrom>;
  using SendToAwaitable = detail::OperationAwaitable<detail::SendTo>;
  using RecvBatchAwaitable = detail::OperationAwaitable<detail::RecvBatch>;
  using SendBatchAwaitable = detail::OperationAwaitable<detail::SendBatch>;
  using RecvWithFdsAwaitable = detail::OperationAwaitable<detail::RecvWithFds>;
  using SendWithFdsAwaitable = detail::OperationAwaitable<detail::SendWithFds>;

  // --- coroutine style --------------------------------------------------------------------------------
  // One datagram and its sender. Longer than the buffer: Errc::message_truncated (std::errc::message_size),
  // the datagram gone. flags: MSG_PEEK; MSG_TRUNC makes Datagram::length the real length and a cut datagram
  // a result with truncated set instead of an error (see Datagram in datagram_ops.hpp).
  RecvFromAwaitable recv_from(MutableBytes buffer, int flags = 0) noexcept {
    return RecvFromAwaitable(state(), buffer, flags);
  }
  // On a connected socket the sender is always the peer; same operation.
  RecvFromAwaitable recv(MutableBytes buffer, int flags = 0) noexcept { return recv_from(buffer, flags); }
  // One datagram to `to`; sent whole or not at all (EMSGSIZE when too big). Result: bytes sent.
  SendToAwaitable send_to(ConstBytes data, const Address& to, int flags = 0) noexcept {
    return SendToAwaitable(state(), data, to, flags);
  }
  // To the connected peer.
  SendToAwaitable send(ConstBytes data, int flags = 0) noexcept { return SendToAwaitable(state(), data, Address{}, flags); }

  // Waits for at least one datagram, then takes all that are queued, up to min(buffers, received, 64), in one
  // recvmmsg. Result: how many; received[i] describes buffers[i]. A cut datagram does not fail the batch (that
  // would lose the whole ones beside it): received[i].error() is Errc::message_truncated for it; check it.
  RecvBatchAwaitable recv_batch(std::span<const MutableBytes> buffers, std::span<Datagram> received,
                                int flags = 0) noexcept {
    return RecvBatchAwaitable(state(), buffers, received, flags);
  }
  // Sends them all, 64 per sendmmsg, waiting while the socket is full. Result: how many were sent (fewer only
  // when an error stopped the batch; the next send reports it).
  SendBatchAwaitable send_batch(std::span<const OutgoingDatagram> datagrams, int flags = 0) noexcept {
    return SendBatchAwaitable(state(), datagrams, flags);
  }

  // Unix only: descriptors with a datagram (to the connected peer, or to `to`).
  SendWithFdsAwaitable send_fds(ConstBytes data, std::span<const int> fds, const Address& to = {}) noexcept {
    return SendWithFdsAwaitable(state(), data, fds, to);
  }
  RecvWithFdsAwaitable recv_with_fds(MutableBytes buffer, int flags = 0) noexcept {
    return RecvWithFdsAwaitable(state(), buffer, flags);
  }

  // --- callback style ---------------------------------------------------------------------------------
  using DatagramHandler = detail::HandlerOperation<detail::RecvFrom>::Handler;
  using SizeHandler = detail::HandlerOperation<detail::SendTo>::Handler;
  using MessageHandler = detail::HandlerOperation<detail::RecvWithFds>::Handler;

  void async_recv_from(MutableBytes buffer, DatagramHandler handler, int flags = 0);
  void async_send_to(ConstBytes data, const Address& to, SizeHandler handler);
  void async_send(ConstBytes data, SizeHandler handler) { async_send_to(data, Address{}, std::move(handler)); }
  void async_recv_batch(std::span<const MutableBytes> buffers, std::span<Datagram> received, SizeHandler handler);
  void async_send_batch(std::span<const OutgoingDatagram> datagrams, SizeHandler handler);
  void async_send_fds(ConstBytes data, std::span<const int> fds, const Address& to, SizeHandler handler);
  void async_recv_with_fds(MutableBytes buffer, MessageHandler handler);

 private:
  explicit DatagramSocket(std::unique_ptr<detail::DatagramState> state) noexcept : Socket(std::move(state)) {}
  detail::DatagramState& datagram_state() const noexcept { return static_cast<detail::DatagramState&>(*state_); }
};

}  // namespace rfarm

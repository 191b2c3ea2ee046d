#include "reactor/net/datagram_socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace rfarm {

Result<DatagramSocket> DatagramSocket::open(Reactor& reactor, int family) {
  auto fd = open_socket_fd(family, SOCK_DGRAM);
  if (!fd) return fail(fd.error());
  return DatagramSocket(std::make_unique<detail::DatagramState>(reactor, *fd, family));
}

Result<DatagramSocket> DatagramSocket::bind(Reactor& reactor, const Address& address, const BindOptions& options) {
  auto sock = open(reactor, address.native_family());
  if (!sock) return sock;
  if (std::error_code ec = sock->bind_to(address, options)) return fail(ec);
  return sock;
}

Result<DatagramSocket> DatagramSocket::connect(Reactor& reactor, const Address& peer) {
  auto sock = open(reactor, peer.native_family());
  if (!sock) return sock;
  if (std::error_code ec = sock->connect_to(peer)) return fail(ec);
  return sock;
}

Result<DatagramSocket> DatagramSocket::adopt(Reactor& reactor, int fd) {
  int family = 0;
  socklen_t len = sizeof family;
  if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len) != 0) return fail_errno();
  return DatagramSocket(std::make_unique<detail::DatagramState>(reactor, fd, family));
}

Result<std::pair<DatagramSocket, DatagramSocket>> DatagramSocket::pair(Reactor& reactor) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return fail_errno();
  return std::pair{DatagramSocket(std::make_unique<detail::DatagramState>(reactor, fds[0], AF_UNIX)),
                   DatagramSocket(std::make_unique<detail::DatagramState>(reactor, fds[1], AF_UNIX))};
}

std::error_code DatagramSocket::bind_to(const Address& address, const BindOptions& options) {
  return bind_socket(*this, address, options);
}

std::error_code DatagramSocket::connect_to(const Address& peer) noexcept {
  int r;
  if (peer.family() == AddressFamily::unspecified) {
    sockaddr unspec{};
    unspec.sa_family = AF_UNSPEC;
    r = ::connect(native_handle(), &unspec, sizeof unspec);
  } else {
    r = ::connect(native_handle(), peer.native(), peer.native_length());
  }
  return r == 0 ? std::error_code{} : last_errno();
}

void DatagramSocket::async_recv_from(MutableBytes buffer, DatagramHandler handler, int flags) {
  detail::start_handler_op(state(), datagram_state().recv_from, std::move(handler), [&](auto& op) {
    op.buffer = buffer;
    op.flags = flags;
  });
}

void DatagramSocket::async_send_to(ConstBytes data, const Address& to, SizeHandler handler) {
  detail::start_handler_op(state(), datagram_state().send_to, std::move(handler), [&](auto& op) {
    op.buffer = data;
    op.to = to;
    op.flags = 0;
  });
}

void DatagramSocket::async_recv_batch(std::span<const MutableBytes> buffers, std::span<Datagram> received,
                                      SizeHandler handler) {
  detail::start_handler_op(state(), datagram_state().recv_batch, std::move(handler), [&](auto& op) {
    op.buffers = buffers;
    op.received = received;
    op.flags = 0;
  });
}

void DatagramSocket::async_send_batch(std::span<const OutgoingDatagram> datagrams, SizeHandler handler) {
  detail::start_handler_op(state(), datagram_state().send_batch, std::move(handler), [&](auto& op) {
    op.datagrams = datagrams;
    op.flags = 0;
  });
}

void DatagramSocket::async_send_fds(ConstBytes data, std::span<const int> fds, const Address& to,
                                    SizeHandler handler) {
  detail::start_handler_op(state(), datagram_state().send_fds, std::move(handler), [&](auto& op) {
    op.buffer = data;
    op.fds = fds;
    op.to = to;
  });
}

void DatagramSocket::async_recv_with_fds(MutableBytes buffer, MessageHandler handler) {
  detail::start_handler_op(state(), datagram_state().recv_with_fds, std::move(handler), [&](auto& op) {
    op.buffer = buffer;
    op.flags = 0;
  });
}

}  // namespace rfarm

#include "reactor/net/seqpacket_socket.hpp"

#include <sys/socket.h>

#include "reactor/net/bind.hpp"

namespace rfarm {

Result<SeqPacketSocket> SeqPacketSocket::open(Reactor& reactor) {
  auto fd = open_socket_fd(AF_UNIX, SOCK_SEQPACKET);
  if (!fd) return fail(fd.error());
  return adopt(reactor, *fd);
}

SeqPacketSocket SeqPacketSocket::adopt(Reactor& reactor, int fd) noexcept {
  return SeqPacketSocket(std::make_unique<detail::SeqPacketState>(reactor, fd));
}

Result<std::pair<SeqPacketSocket, SeqPacketSocket>> SeqPacketSocket::pair(Reactor& reactor) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return fail_errno();
  return std::pair{adopt(reactor, fds[0]), adopt(reactor, fds[1])};
}

Task<Result<SeqPacketSocket>> SeqPacketSocket::connect(Reactor& reactor, Address address) {
  auto sock = open(reactor);
  if (!sock) co_return fail(sock.error());
  if (std::error_code ec = co_await sock->connect_to(address)) co_return fail(ec);
  co_return std::move(*sock);
}

void SeqPacketSocket::async_connect(const Address& address, ErrorHandler handler) {
  detail::start_handler_op(state(), packet_state().connect, std::move(handler), [&](auto& op) {
    op.reactor = &reactor();
    op.address = address;
    op.timeout = Duration(0);
  });
}

void SeqPacketSocket::async_recv(MutableBytes buffer, RecordHandler handler) {
  detail::start_handler_op(state(), packet_state().recv, std::move(handler), [&](auto& op) {
    op.buffer = buffer;
    op.flags = 0;
  });
}

void SeqPacketSocket::async_send(ConstBytes record, SizeHandler handler) {
  detail::start_handler_op(state(), packet_state().send, std::move(handler), [&](auto& op) {
    op.buffer = record;
    op.to = Address{};
    op.flags = 0;
  });
}

void SeqPacketSocket::async_send_fds(ConstBytes record, std::span<const int> fds, SizeHandler handler) {
  detail::start_handler_op(state(), packet_state().send_fds, std::move(handler), [&](auto& op) {
    op.buffer = record;
    op.fds = fds;
    op.to = Address{};
  });
}

void SeqPacketSocket::async_recv_with_fds(MutableBytes buffer, MessageHandler handler) {
  detail::start_handler_op(state(), packet_state().recv_with_fds, std::move(handler), [&](auto& op) {
    op.buffer = buffer;
    op.flags = 0;
  });
}

std::error_code SeqPacketSocket::shutdown(ShutdownHow how) noexcept {
  if (::shutdown(native_handle(), static_cast<int>(how)) != 0) return last_errno();
  return {};
}

Result<SeqPacketListener> SeqPacketListener::listen(Reactor& reactor, const Address& address,
                                                    const ListenOptions& options) {
  if (address.family() != AddressFamily::unix_domain) return fail(std::make_error_code(std::errc::address_family_not_supported));
  auto fd = open_socket_fd(AF_UNIX, SOCK_SEQPACKET);
  if (!fd) return fail(fd.error());
  SeqPacketListener listener(std::make_unique<detail::SeqPacketListenerState>(reactor, *fd));
  if (std::error_code ec = listen_socket(listener, address, options)) return fail(ec);
  return listener;
}

void SeqPacketListener::async_accept(AcceptHandler handler) {
  auto& s = static_cast<detail::SeqPacketListenerState&>(*state_);
  detail::start_handler_op(state(), s.accept_packet, std::move(handler), [](auto&) {});
}

}  // namespace rfarm

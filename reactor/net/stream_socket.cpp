#include "reactor/net/stream_socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace rfarm {

namespace detail {

std::size_t consume_iovecs(msghdr& msg, std::size_t n) noexcept {
  while (msg.msg_iovlen > 0) {
    iovec& front = msg.msg_iov[0];
    if (n < front.iov_len) {
      front.iov_base = static_cast<char*>(front.iov_base) + n;
      front.iov_len -= n;
      break;
    }
    n -= front.iov_len;
    ++msg.msg_iov;
    --msg.msg_iovlen;
  }
  std::size_t left = 0;
  for (std::size_t i = 0; i < msg.msg_iovlen; ++i) left += msg.msg_iov[i].iov_len;
  return left;
}

}  // namespace detail

Result<StreamSocket> StreamSocket::open(Reactor& reactor, int family) {
  auto fd = open_socket_fd(family, SOCK_STREAM);
  if (!fd) return fail(fd.error());
  return adopt(reactor, *fd);
}

StreamSocket StreamSocket::adopt(Reactor& reactor, int fd) noexcept {
  return StreamSocket(std::make_unique<detail::StreamState>(reactor, fd, true));
}

Result<std::pair<StreamSocket, StreamSocket>> StreamSocket::pair(Reactor& reactor) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) return fail_errno();
  return std::pair{adopt(reactor, fds[0]), adopt(reactor, fds[1])};
}

Task<Result<StreamSocket>> StreamSocket::connect(Reactor& reactor, Address address, Duration timeout) {
  auto sock = open(reactor, address.native_family());
  if (!sock) co_return fail(sock.error());
  if (std::error_code ec = co_await sock->connect_to(address, timeout)) co_return fail(ec);
  co_return std::move(*sock);
}

Result<std::size_t> StreamSocket::try_send(ConstBytes data) noexcept {
  detail::SocketState* s = state();
  if (s == nullptr || s->fd < 0) return fail(errno_code(EBADF));
  if (data.empty()) return std::size_t{0};
  const int r = s->reactor->backend().try_send(*s, data.data(), data.size());
  if (r < 0) return fail(errno_code(-r));
  return static_cast<std::size_t>(r);
}

void StreamSocket::async_connect(const Address& address, Duration timeout, ErrorHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().connect, std::move(handler), [&](auto& op) {
    op.reactor = &reactor();
    op.address = address;
    op.timeout = timeout;
  });
}

void StreamSocket::async_recv(MutableBytes buffer, SizeHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().recv_some, std::move(handler), [&](auto& op) {
    op.buffer = buffer;
    op.flags = 0;
  });
}

void StreamSocket::async_recv_pooled(BufferHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().recv_pooled, std::move(handler), [](auto&) {});
}

void StreamSocket::async_recv_exactly(MutableBytes buffer, SizeHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().recv_exactly, std::move(handler),
                   [&](auto& op) { op.buffer = buffer; });
}

void StreamSocket::async_send(ConstBytes data, SizeHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().send_some, std::move(handler), [&](auto& op) {
    op.buffer = data;
    op.flags = 0;
  });
}

void StreamSocket::async_send_all(ConstBytes data, SizeHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().send_all, std::move(handler), [&](auto& op) {
    op.buffer = data;
    op.gather = {};
  });
}

void StreamSocket::async_send_all(std::span<iovec> buffers, SizeHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().send_all, std::move(handler), [&](auto& op) {
    op.buffer = {};
    op.gather = buffers;
  });
}

std::error_code StreamSocket::shutdown(ShutdownHow how) noexcept {
  if (::shutdown(native_handle(), static_cast<int>(how)) != 0) return last_errno();
  return {};
}

}  // namespace rfarm

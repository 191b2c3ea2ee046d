// StreamSocket: a connected stream socket, TCP (IPv4 / IPv6) or Unix-domain, in two styles on one object.
//
// Coroutines (the operation lives in the coroutine frame; nothing is allocated):
//     auto sock = co_await rfarm::StreamSocket::connect(reactor, addr, 2s);   // Task<Result<StreamSocket>>
//     auto n = co_await sock->recv(buffer);          // Result<size_t>, 0 at end of stream
//     co_await sock->send_all(rfarm::as_bytes("hello"));
//     auto buf = co_await sock->recv_pooled();       // Result<PooledBuffer>, leased at completion
//
// Callbacks (the operation lives in the socket's state; handlers up to 64 bytes, stored in place):
//     sock.async_recv(buffer, [this](rfarm::Result<std::size_t> n) { ... });
//
// One receive-side and one send-side operation may be pending at a time per style; a second callback
// operation of the same kind fails with Errc::operation_in_progress. close() completes pending operations
// with std::errc::operation_canceled.
#pragma once

#include <sys/socket.h>

#include <span>

#include "lib/task.hpp"
#include "reactor/stream_ops.hpp"

namespace rfarm {

enum class ShutdownHow : int { receive = SHUT_RD, send = SHUT_WR, both = SHUT_RDWR };

namespace detail {
struct StreamState final : SocketState {
  using SocketState::SocketState;
  HandlerOperation<RecvSome> recv_some;
  HandlerOperation<RecvPooled> recv_pooled;
  HandlerOperation<RecvExactly> recv_exactly;
  HandlerOperation<SendSome> send_some;
  HandlerOperation<SendAll> send_all;
  HandlerOperation<ConnectLogic> connect;
};
}  // namespace detail

class StreamSocket : public Socket {
 public:
  StreamSocket() noexcept = default;

  // A fresh unconnected socket of the family (AF_INET, AF_INET6, AF_UNIX), ready for connect().
  static Result<StreamSocket> open(Reactor& reactor, int family);
  // Adopts a connected, non-blocking stream descriptor (from accept, socketpair, or another library).
  static StreamSocket adopt(Reactor& reactor, int fd) noexcept;
  // A connected pair (AF_UNIX socketpair), e.g. for tests and in-process pipes.
  static Result<std::pair<StreamSocket, StreamSocket>> pair(Reactor& reactor);

  // Opens a socket of the address's family and connects it; timeout <= 0 means none.
  static Task<Result<StreamSocket>> connect(Reactor& reactor, Address address, Duration timeout = Duration(0));

  using ConnectAwaitable = detail::OperationAwaitable<detail::ConnectLogic>;
  using RecvAwaitable = detail::OperationAwaitable<detail::RecvSome>;
  using RecvPooledAwaitable = detail::OperationAwaitable<detail::RecvPooled>;
  using RecvExactlyAwaitable = detail::OperationAwaitable<detail::RecvExactly>;
  using SendAwaitable = detail::OperationAwaitable<detail::SendSome>;
  using SendAllAwaitable = detail::OperationAwaitable<detail::SendAll>;

  // --- coroutine style --------------------------------------------------------------------------------
  // co_await sock.connect_to(addr, timeout) -> std::error_code (Errc::timed_out when the deadline passes).
  ConnectAwaitable connect_to(const Address& address, Duration timeout = Duration(0)) noexcept {
    return ConnectAwaitable(state(), reactor(), address, timeout);
  }
  // Some bytes (at most buffer.size()); 0 at end of stream. flags: MSG_PEEK, MSG_OOB, ...
  RecvAwaitable recv(MutableBytes buffer, int flags = 0) noexcept { return RecvAwaitable(state(), buffer, flags); }
  RecvPooledAwaitable recv_pooled() noexcept { return RecvPooledAwaitable(state()); }
  // Exactly buffer.size() bytes, or Errc::end_of_stream.
  RecvExactlyAwaitable recv_exactly(MutableBytes buffer) noexcept { return RecvExactlyAwaitable(state(), buffer); }
  SendAwaitable send(ConstBytes data, int flags = 0) noexcept { return SendAwaitable(state(), data, flags); }
  SendAllAwaitable send_all(ConstBytes data) noexcept { return SendAllAwaitable(state(), data); }
  // Gathered: all buffers in one sendmsg where the kernel takes them; the iovecs are advanced in place.
  SendAllAwaitable send_all(std::span<iovec> buffers) noexcept {
    return SendAllAwaitable(state(), ConstBytes{}, buffers);
  }

  // --- callback style ---------------------------------------------------------------------------------
  using SizeHandler = detail::HandlerOperation<detail::RecvSome>::Handler;
  using BufferHandler = detail::HandlerOperation<detail::RecvPooled>::Handler;
  using ErrorHandler = detail::HandlerOperation<detail::ConnectLogic>::Handler;

  void async_connect(const Address& address, Duration timeout, ErrorHandler handler);
  void async_recv(MutableBytes buffer, SizeHandler handler);
  void async_recv_pooled(BufferHandler handler);
  void async_recv_exactly(MutableBytes buffer, SizeHandler handler);
  void async_send(ConstBytes data, SizeHandler handler);
  void async_send_all(ConstBytes data, SizeHandler handler);
  void async_send_all(std::span<iovec> buffers, SizeHandler handler);

  // --- stream control ---------------------------------------------------------------------------------
  // Half-close: after shutdown(send) the peer reads end of stream but may keep sending to us.
  std::error_code shutdown(ShutdownHow how) noexcept;
  std::error_code set_nodelay(bool on) noexcept { return set(option::NoDelay(on)); }
  std::error_code set_keepalive(bool on) noexcept { return set(option::KeepAlive(on)); }

 private:
  explicit StreamSocket(std::unique_ptr<detail::StreamState> state) noexcept : Socket(std::move(state)) {}
  detail::StreamState& stream_state() const noexcept { return static_cast<detail::StreamState&>(*state_); }
};

}  // namespace rfarm

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
// Caller-owned callback operations, for many connections (the operation lives in the caller's connection
// object, which holds only the ones it uses; see RecvPooledOperation below):
//     recv_.start(sock);                             // on_data(context, Result<PooledBuffer>) later
//
// One receive-side and one send-side operation may be pending at a time per style; a second callback
// operation of the same kind fails with Errc::operation_in_progress. close() completes pending operations
// with std::errc::operation_canceled.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "lib/task.hpp"
#include "reactor/net/stream_ops.hpp"
#include "reactor/net/tcp_info.hpp"
#include "reactor/net/urgent_ops.hpp"

namespace rfarm {

enum class ShutdownHow : int { receive = SHUT_RD, send = SHUT_WR, both = SHUT_RDWR };

namespace detail {
// The callback-style operations of one stream socket (~2.5 KiB together).
struct StreamHandlerOps {
  HandlerOperation<RecvSome> recv_some;
  HandlerOperation<RecvPooled> recv_pooled;
  HandlerOperation<RecvExactly> recv_exactly;
  HandlerOperation<SendSome> send_some;
  HandlerOperation<SendAll> send_all;
  HandlerOperation<ConnectLogic> connect;
  HandlerOperation<WaitUrgent> wait_urgent;
  HandlerOperation<RecvUrgent> recv_urgent;
};

struct StreamState final : SocketState {
  using SocketState::SocketState;
  // Made by the first async_* call: a connection written with coroutines (its operations live in the
  // coroutine frame) or with caller-owned operations (OwnedOperation) never pays for them.
  StreamHandlerOps& handler_ops() {
    auto& ops = extras_made().handler_ops;
    if (!ops) ops = {new StreamHandlerOps, [](void* p) { delete static_cast<StreamHandlerOps*>(p); }};
    return *static_cast<StreamHandlerOps*>(ops.get());
  }
};
// Every stream connection holds one: 56 bytes are a 64-byte malloc chunk.
static_assert(sizeof(StreamState) <= 56, "StreamState grew past its 64-byte heap chunk");
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
  using SendAllBufferAwaitable = detail::OperationAwaitable<detail::SendAllBuffer>;

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
  SendAllBufferAwaitable send_all(ConstBytes data) noexcept { return SendAllBufferAwaitable(state(), data); }
  // Gathered: all buffers in one sendmsg where the kernel takes them; the iovecs are advanced in place.
  SendAllAwaitable send_all(std::span<iovec> buffers) noexcept {
    return SendAllAwaitable(state(), ConstBytes{}, buffers);
  }

  // --- without waiting -------------------------------------------------------------------------------
  // Sends what the socket takes now, with no operation and no suspension (libuv's uv_try_write): the bytes
  // taken, possibly fewer than data.size(); std::errc::resource_unavailable_try_again when it takes none now
  // (the socket buffer is full, a send is already waiting, or the backend sends only through its queue:
  // io_uring with RFARM_URING_TUNE=no-direct-send). Then send the rest with send_all or async_send_all.
  // A direct send never overtakes a pending one.
  //     auto n = sock.try_send(reply);
  //     if (n && *n < reply.size()) co_await sock.send_all(reply.subspan(*n));
  Result<std::size_t> try_send(ConstBytes data) noexcept;

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

  // --- caller-owned callback operations (OwnedOperation, operation.hpp) -----------------------------------
  // Embedded in the caller's connection object, nothing kept per socket: the lean callback style for many
  // connections. Callback: void f(void* context, Result<...>) noexcept.
  //     StreamSocket::RecvPooledOperation<&on_data> recv{this};
  //     recv.start(sock);                              // on_data(this, Result<PooledBuffer>), empty at end of stream
  //     StreamSocket::SendPooledOperation<&on_sent> send{this};
  //     send.start(sock, std::move(buffer));           // the buffer goes back to its pool once sent
  template <auto Callback>
  using RecvPooledOperation = detail::OwnedOperation<detail::RecvPooled, Callback>;
  template <auto Callback>
  using SendPooledOperation = detail::OwnedOperation<detail::SendPooled, Callback>;
  // Both in one operation that answers in place, for a connection that sends back (or on) what it receives: the
  // buffer a receive leased is the one the send sends, and nothing is rebuilt between messages. The connection
  // derives from it (detail::PooledExchange, operation.hpp, has the details):
  //     class Conn : public StreamSocket::PooledExchangeOperation<Conn> {
  //       void on_received(std::error_code ec) noexcept;   // bytes in buffer(), empty at end of stream
  //       void on_sent(std::error_code ec) noexcept;       // the buffer went back to its pool
  //     };
  //     if (conn.receive(sock)) ...conn.take_error()...  // else on_received later
  //     if (conn.start_receiving(sock)) ...               // or stay armed: on_received per arrival (read_start)
  template <class Owner>
  using PooledExchangeOperation = detail::PooledExchange<Owner>;

  // --- stream control ---------------------------------------------------------------------------------
  // Half-close: after shutdown(send) the peer reads end of stream but may keep sending to us.
  std::error_code shutdown(ShutdownHow how) noexcept;
  std::error_code set_nodelay(bool on) noexcept { return set(option::NoDelay(on)); }
  std::error_code set_keepalive(bool on) noexcept { return set(option::KeepAlive(on)); }
  // Lingering close: with on and a timeout, close() waits (blocking!) up to timeout for unsent data; use it
  // with timeout 0, or better abort(), to reset the connection instead.
  std::error_code set_linger(bool on, std::chrono::seconds timeout) noexcept {
    return set(option::Linger(on, timeout));
  }
  // Abortive close: drops unsent data and sends a RST (SO_LINGER with timeout 0, socket(7)); the peer's next
  // receive fails with connection_reset. Pending operations complete with operation_canceled, as for close().
  void abort() noexcept;

  // --- TCP only (a Unix-domain socket refuses these with EOPNOTSUPP) ----------------------------------------
  // Keep-alive on, first probe after idle without traffic, then every interval, reset after count misses.
  //     sock.set_keepalive(60s, 10s, 5);     // a dead peer is noticed within 110 s
  std::error_code set_keepalive(std::chrono::seconds idle, std::chrono::seconds interval, int count) noexcept;
  // Unacknowledged data older than timeout fails the connection with timed_out (TCP_USER_TIMEOUT, RFC 5482).
  std::error_code set_user_timeout(std::chrono::milliseconds timeout) noexcept {
    return set(option::UserTimeout(static_cast<int>(timeout.count())));
  }
  std::error_code set_quickack(bool on) noexcept { return set(option::QuickAck(on)); }
  // Congestion control by name: "cubic", "reno", "bbr" (net.ipv4.tcp_available_congestion_control).
  Result<std::string> congestion_control() const;
  std::error_code set_congestion_control(std::string_view name) noexcept { return set(option::Congestion(name)); }
  // TCP_INFO: state, round-trip times, congestion window, retransmissions, byte counters.
  Result<TcpInfo> tcp_info() const noexcept { return read_tcp_info(native_handle()); }

  // --- TCP urgent ("out-of-band") data, tcp(7) ------------------------------------------------------------
  // TCP marks one urgent byte at a time: a newer one moves the mark and an unread older one is lost.
  // RFC 6093 advises new protocols against urgent data; it is here for the old ones (telnet, FTP ABOR).
  //     co_await sock.send_urgent(rfarm::as_bytes("!"));  // the last byte sent is the urgent one
  //     auto b = co_await peer.recv_urgent();              // Result<std::byte>: '!' out of band
  using WaitUrgentAwaitable = detail::OperationAwaitable<detail::WaitUrgent>;
  using RecvUrgentAwaitable = detail::OperationAwaitable<detail::RecvUrgent>;
  using UrgentHandler = detail::HandlerOperation<detail::RecvUrgent>::Handler;

  SendAwaitable send_urgent(ConstBytes data) noexcept { return SendAwaitable(state(), data, MSG_OOB); }
  // Completes when urgent data is pending (POLLPRI), or on an error or hang-up (a half-close does not end it).
  WaitUrgentAwaitable wait_urgent() noexcept { return WaitUrgentAwaitable(state()); }
  // Waits for the urgent byte and takes it out of band. A reset reports connection_reset, a full close
  // end_of_stream; with SO_OOBINLINE on it fails with invalid_argument (the byte stays in the stream: find it
  // with at_mark()).
  RecvUrgentAwaitable recv_urgent() noexcept { return RecvUrgentAwaitable(state()); }
  void async_send_urgent(ConstBytes data, SizeHandler handler);
  void async_wait_urgent(ErrorHandler handler);
  void async_recv_urgent(UrgentHandler handler);
  // Whether the next byte to read is the urgent mark (SIOCATMARK, sockatmark(3)): reads stop short of it, so
  // with SO_OOBINLINE the urgent byte is the first byte of the read after at_mark() turns true.
  Result<bool> at_mark() const noexcept;

 private:
  explicit StreamSocket(std::unique_ptr<detail::StreamState> state) noexcept : Socket(std::move(state)) {}
  detail::StreamState& stream_state() const noexcept { return static_cast<detail::StreamState&>(*state_); }
};

}  // namespace rfarm

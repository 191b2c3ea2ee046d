// TlsStream: TLS (OpenSSL 3) over a connected StreamSocket (TCP or Unix), on the reactor, with the same two
// styles as a plain socket. Works on every backend: it uses only the socket's own operations.
//
//     auto context = rfarm::TlsContext::client({.ca_file = "ca.pem"}).value();
//     auto sock = co_await rfarm::StreamSocket::connect(reactor, address, 2s);
//     auto tls = rfarm::TlsStream::client(std::move(*sock), context, {.server_name = "localhost"}).value();
//     if (auto ec = co_await tls.handshake(5s)) log.warn("TLS: {}", ec.message());   // says why
//     co_await tls.send_all(rfarm::as_bytes("hello"));
//     auto n = co_await tls.recv(buffer);             // Result<size_t>; 0 once the peer sent close_notify
//     co_await tls.shutdown();                        // close_notify, then end of stream for the peer
//
// Callbacks: tls.async_recv(buffer, [](rfarm::Result<std::size_t> n) {...}) and friends; handlers of up to 64
// bytes are stored in place and never run inside the call that started them.
//
// Rules, as for StreamSocket: one receive-side and one send-side operation at a time per style (a second
// callback operation of a kind fails with Errc::operation_in_progress); close() or destroying the stream
// finishes pending operations with std::errc::operation_canceled. Receives and sends may run concurrently.
//
// The handshake runs on the first operation if handshake() was not called; calling it lets you bound it in
// time and see its failure on its own. Failures are TLS error codes (tls_error.hpp):
// `ec == TlsErrc::certificate_expired`, `ec == TlsErrc::hostname_mismatch`, ... After a failure every
// operation reports the same error. A stream that ends without close_notify makes recv fail with
// TlsErrc::truncated (the data may have been cut short by an attacker); a clean end returns 0.
// Renegotiation is refused (TlsErrc::renegotiation_refused when the peer insists).
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "lib/task.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/tls/detail/tls_ops.hpp"
#include "reactor/tls/tls_certificate.hpp"
#include "reactor/tls/tls_context.hpp"
#include "reactor/tls/tls_error.hpp"
#include "reactor/tls/tls_session_cache.hpp"

namespace rfarm {

struct TlsClientOptions {
  // The server's name: sent as SNI and checked against the certificate (subjectAltName DNS entries). An IP
  // literal ("127.0.0.1", "::1") is checked against the IP entries instead and sends no SNI (RFC 6066 §3).
  // Empty: no SNI and no name check (the chain is still verified unless the context says none).
  std::string server_name{};
  // Whether to check server_name against the certificate (when the context verifies the peer at all).
  bool verify_name = true;
  // Resumption: sessions are offered from and stored into this cache, under session_key (default:
  // server_name). The cache is shared, not copied; the pointer need only be valid during client().
  TlsSessionCache* session_cache = nullptr;
  std::string session_key{};
};

class TlsStream {
 public:
  TlsStream() noexcept;
  TlsStream(TlsStream&&) noexcept;
  TlsStream& operator=(TlsStream&&) noexcept;
  ~TlsStream();  // closes without close_notify (call shutdown() first for a clean end)

  // The client side of a session over a connected socket; context must be a client context.
  static Result<TlsStream> client(StreamSocket socket, const TlsContext& context, const TlsClientOptions& options = {});
  // The server side of a session over an accepted socket; context must be a server context.
  static Result<TlsStream> server(StreamSocket socket, const TlsContext& context);
  // Connects (TCP or Unix), then handshakes; timeout (if > 0) bounds each of the two.
  static Task<Result<TlsStream>> connect(Reactor& reactor, Address address, TlsContext context,
                                         TlsClientOptions options, Duration timeout = Duration(0));

  using HandshakeAwaitable = detail::TlsAwaitable<detail::TlsHandshakeLogic>;
  using RecvAwaitable = detail::TlsAwaitable<detail::TlsRecvLogic>;
  using RecvPooledAwaitable = detail::TlsAwaitable<detail::TlsRecvPooledLogic>;
  using SendAwaitable = detail::TlsAwaitable<detail::TlsSendLogic>;
  using ShutdownAwaitable = detail::TlsAwaitable<detail::TlsShutdownLogic>;

  // --- coroutine style --------------------------------------------------------------------------------
  // Runs the handshake to its end -> std::error_code; Errc::timed_out after timeout (if > 0), which also
  // fails the stream.
  HandshakeAwaitable handshake(Duration timeout = Duration(0)) noexcept {
    return HandshakeAwaitable(state_.get(), timeout);
  }
  // Some plaintext (at most buffer.size()) -> Result<size_t>; 0 once the peer sent close_notify.
  RecvAwaitable recv(MutableBytes buffer) noexcept { return RecvAwaitable(state_.get(), buffer, false); }
  // Exactly buffer.size() bytes, or Errc::end_of_stream if the peer closes first.
  RecvAwaitable recv_exactly(MutableBytes buffer) noexcept { return RecvAwaitable(state_.get(), buffer, true); }
  // Plaintext in a buffer leased from the reactor's pool when data arrives -> Result<PooledBuffer>; an empty
  // buffer once the peer sent close_notify.
  RecvPooledAwaitable recv_pooled() noexcept { return RecvPooledAwaitable(state_.get()); }
  // Encrypts some of data (up to 256 KiB) and completes once those records are in the kernel.
  SendAwaitable send(ConstBytes data) noexcept { return SendAwaitable(state_.get(), data, false); }
  // Every byte, as records of up to 16 KiB; completes once the last one is in the kernel.
  SendAwaitable send_all(ConstBytes data) noexcept { return SendAwaitable(state_.get(), data, true); }
  // Every byte of every buffer -> Result<size_t>, the iovecs advanced in place (as StreamSocket's). Small
  // buffers are packed into full 16 KiB records rather than one record each, large ones encrypted where
  // they are; the records of a turn leave in one gathered sendmsg. The buffers must stay valid until it
  // completes.
  //     iovec parts[] = {{head, 5}, {body, n}};  co_await tls.send_all(std::span<iovec>(parts));
  SendAwaitable send_all(std::span<iovec> buffers) noexcept { return SendAwaitable(state_.get(), buffers); }
  // Sends close_notify and half-closes the socket once it has left -> std::error_code. Keep receiving until
  // recv returns 0 to see the peer's close_notify too. Before the handshake ended: TlsErrc::invalid_state.
  ShutdownAwaitable shutdown() noexcept { return ShutdownAwaitable(state_.get()); }

  // --- callback style ---------------------------------------------------------------------------------
  using ErrorHandler = detail::TlsHandlerOperation<detail::TlsHandshakeLogic>::Handler;
  using SizeHandler = detail::TlsHandlerOperation<detail::TlsRecvLogic>::Handler;
  using BufferHandler = detail::TlsHandlerOperation<detail::TlsRecvPooledLogic>::Handler;

  void async_handshake(Duration timeout, ErrorHandler handler);
  void async_recv(MutableBytes buffer, SizeHandler handler);
  void async_recv_exactly(MutableBytes buffer, SizeHandler handler);
  void async_recv_pooled(BufferHandler handler);
  void async_send(ConstBytes data, SizeHandler handler);
  void async_send_all(ConstBytes data, SizeHandler handler);
  void async_send_all(std::span<iovec> buffers, SizeHandler handler);
  void async_shutdown(ErrorHandler handler);

  // --- state ------------------------------------------------------------------------------------------
  bool is_open() const noexcept;
  // Closes the socket at once (no close_notify); pending operations finish with operation_canceled.
  void close() noexcept;
  Reactor& reactor() const noexcept;
  // The ciphertext socket: addresses and options. Reading or writing it directly breaks the session.
  StreamSocket& socket() noexcept;
  // The OpenSSL session, for what rfarm does not wrap (e.g. SSL_export_keying_material).
  SSL* native_handle() const noexcept;
  // The stream's state, for the stream layer's own operations on it (SendQueue).
  detail::TlsState* state() const noexcept { return state_.get(); }

  // --- after the handshake ----------------------------------------------------------------------------
  bool handshake_done() const noexcept;
  std::string_view protocol() const noexcept;  // "TLSv1.3", "TLSv1.2"
  std::string_view cipher() const noexcept;    // "TLS_AES_256_GCM_SHA384"
  std::string_view alpn() const noexcept;      // the negotiated protocol; empty if none
  // Server: the name the client sent in SNI; client: the name it sent. Empty if none.
  std::string_view server_name() const noexcept;
  bool session_reused() const noexcept;
  // The certificate the peer presented (TlsErrc::no_peer_certificate if it sent none).
  Result<TlsCertificateInfo> peer_certificate() const;
  // How verifying the peer's certificate went: {} when it passed (or no certificate was sent), otherwise
  // the reason, even when the context does not enforce verification.
  std::error_code verify_result() const noexcept;

  struct Stats {
    std::uint64_t ciphertext_receives = 0;  // receives from the socket
    std::uint64_t ciphertext_sends = 0;     // gathered sends to the socket (each may carry many records)
    std::uint64_t bytes_in = 0;             // ciphertext bytes received
    std::uint64_t bytes_out = 0;            // ciphertext bytes sent
    std::uint64_t record_writes = 0;        // ciphertext writes by OpenSSL: one per record (or per batch of
                                            // records for the few ciphers with multi-block writes)
  };
  Stats stats() const noexcept;

 private:
  explicit TlsStream(std::unique_ptr<detail::TlsState> state) noexcept;
  std::unique_ptr<detail::TlsState> state_;
};

}  // namespace rfarm

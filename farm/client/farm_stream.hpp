// FarmStream: the byte stream a farm client speaks over, plain (tcp:, unix:) or TLS (tls:), behind one type so
// that the Kernel's connections and farm-admin share one code path. connect_farm_stream() opens it from an
// EndpointSpec: connect, then (tls:) the handshake with our certificate, checking the server's certificate against
// the CA and the expected name.
//
//     FarmTlsOptions tls{.ca_file = "ca.pem", .certificate_file = "me.pem", .key_file = "me.key"};
//     auto context = make_farm_tls_context(tls);                     // FarmResult<TlsContext>: the file at fault
//     FarmStream stream;                                             // stream.abort() from elsewhere cuts it short
//     auto ok = co_await connect_farm_stream(reactor, stream, spec, address, &*context, tls, 3s);
//     if (!ok) log.warn("{}", ok.error().message);                   // "TLS handshake (server name ...): unknown CA"
//     co_await stream.send_all(hello);
//     auto n = co_await stream.recv(buffer);                         // Result<size_t>, as a socket's
//
// recv and send_all return the underlying stream's own awaitable (no coroutine frame per call).
#pragma once

#include <coroutine>
#include <new>
#include <optional>
#include <string>

#include "farm/error.hpp"
#include "lib/task.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/stream/send_queue.hpp"
#include "reactor/tls/tls_context.hpp"
#include "reactor/tls/tls_stream.hpp"

namespace rfarm::farm {

// How a farm client authenticates to tls: servers (mutual TLS) and checks them.
struct FarmTlsOptions {
  std::string ca_file{};           // the CAs that issued the servers' certificates (required for tls:)
  std::string certificate_file{};  // our certificate chain (PEM, leaf first): the subject the server allows
  std::string key_file{};          // its private key
  // The name the servers' certificates must carry; empty: the host of each tls: spec (an IP literal is checked
  // against the certificate's IP entries).
  std::string server_name{};
  // A context made by the caller (e.g. tools::make_tls_context, for its messages); replaces the files above.
  std::optional<TlsContext> context{};
};

// The client context for options: options.context if set, else one from the files (each checked to exist).
FarmResult<TlsContext> make_farm_tls_context(const FarmTlsOptions& options);

namespace detail {

// One of two awaitables, constructed in place (the reactor's operations cannot move: they are registered by
// address while they run).
template <class A, class B>
class EitherAwaitable {
 public:
  template <class MakeA>
  EitherAwaitable(std::in_place_index_t<0>, MakeA&& make) : which_a_(true) {
    ::new (static_cast<void*>(&a_)) A(make());
  }
  template <class MakeB>
  EitherAwaitable(std::in_place_index_t<1>, MakeB&& make) : which_a_(false) {
    ::new (static_cast<void*>(&b_)) B(make());
  }
  EitherAwaitable(const EitherAwaitable&) = delete;
  EitherAwaitable& operator=(const EitherAwaitable&) = delete;
  ~EitherAwaitable() {
    if (which_a_) a_.~A();
    else b_.~B();
  }

  bool await_ready() noexcept { return which_a_ ? a_.await_ready() : b_.await_ready(); }
  bool await_suspend(std::coroutine_handle<> h) noexcept { return which_a_ ? a_.await_suspend(h) : b_.await_suspend(h); }
  auto await_resume() noexcept { return which_a_ ? a_.await_resume() : b_.await_resume(); }

 private:
  bool which_a_;
  union {
    A a_;
    B b_;
  };
};

}  // namespace detail

class FarmStream {
 public:
  using RecvAwaitable = detail::EitherAwaitable<StreamSocket::RecvAwaitable, TlsStream::RecvAwaitable>;
  using SendAllAwaitable = detail::EitherAwaitable<StreamSocket::SendAllBufferAwaitable, TlsStream::SendAwaitable>;

  FarmStream() noexcept = default;
  explicit FarmStream(StreamSocket socket) noexcept : plain_(std::move(socket)) {}
  explicit FarmStream(TlsStream stream) noexcept : tls_(std::move(stream)), is_tls_(true) {}
  FarmStream(FarmStream&&) noexcept = default;
  FarmStream& operator=(FarmStream&&) noexcept = default;

  bool is_tls() const noexcept { return is_tls_; }
  bool is_open() const noexcept { return is_tls_ ? tls_.is_open() : plain_.is_open(); }

  // Some bytes -> Result<size_t>, 0 at the end of the stream.
  RecvAwaitable recv(MutableBytes buffer) noexcept {
    if (is_tls_) return RecvAwaitable(std::in_place_index<1>, [&] { return tls_.recv(buffer); });
    return RecvAwaitable(std::in_place_index<0>, [&] { return plain_.recv(buffer); });
  }
  // Every byte -> Result<size_t>.
  SendAllAwaitable send_all(ConstBytes data) noexcept {
    if (is_tls_) return SendAllAwaitable(std::in_place_index<1>, [&] { return tls_.send_all(data); });
    return SendAllAwaitable(std::in_place_index<0>, [&] { return plain_.send_all(data); });
  }

  // Puts TLS (client side) on the connected plain stream; then handshake().
  std::error_code start_tls(const TlsContext& context, const TlsClientOptions& options) {
    auto stream = TlsStream::client(std::move(plain_), context, options);
    if (!stream) return stream.error();
    tls_ = std::move(*stream);
    is_tls_ = true;
    return {};
  }
  TlsStream::HandshakeAwaitable handshake(Duration timeout) noexcept { return tls_.handshake(timeout); }

  // A SendQueue over this stream (declare it after the stream; destroy it first).
  std::unique_ptr<SendQueue> make_send_queue() {
    return is_tls_ ? std::make_unique<SendQueue>(tls_) : std::make_unique<SendQueue>(plain_);
  }

  // Resets the connection at once: pending operations complete with operation_canceled.
  void abort() noexcept {
    if (is_tls_) {
      if (tls_.is_open()) tls_.socket().abort();
    } else if (plain_.is_open()) {
      plain_.abort();
    }
  }
  void close() noexcept {
    tls_.close();
    plain_.close();
    is_tls_ = false;
  }
  // The ciphertext socket (addresses, options).
  StreamSocket& socket() noexcept { return is_tls_ ? tls_.socket() : plain_; }

 private:
  StreamSocket plain_;
  TlsStream tls_;
  bool is_tls_ = false;
};

// Connects stream to address (spec says how: tls: adds the TLS handshake with context, which must be set then),
// each step bounded by timeout; stream.abort() from elsewhere ends it early. The error's message says which step
// failed and why; a TLS failure keeps its TLS code (tls_category()), so that a caller can tell a refusal from a
// server that is not there.
Task<FarmResult<void>> connect_farm_stream(Reactor& reactor, FarmStream& stream, const EndpointSpec& spec,
                                           const Address& address, const TlsContext* context,
                                           const FarmTlsOptions& tls, Duration timeout);

// Whether ec is the server refusing us (TLS: our certificate, its certificate, no common protocol; or the
// Welcome's refusal) rather than the server not being there: retrying soon will not change the answer.
bool is_refusal(const std::error_code& ec) noexcept;

}  // namespace rfarm::farm

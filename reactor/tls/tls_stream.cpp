#include "reactor/tls/tls_stream.hpp"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "reactor/tls/tls_error_map.hpp"
#include "reactor/tls/tls_state.hpp"

namespace rfarm {
namespace {

bool is_ip_literal(const std::string& name) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(AF_INET, name.c_str(), buf) == 1 || ::inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

// SNI, the name to verify, and a session to resume.
std::error_code configure_client(detail::TlsState& state, const TlsClientOptions& options) {
  SSL* ssl = state.ssl();
  const std::string& name = options.server_name;
  if (!name.empty()) {
    bool ip = is_ip_literal(name);
    // RFC 6066 section 3: SNI carries host names only, never address literals.
    if (!ip && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1) return detail::tls_config_error();
    if (options.verify_name) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      if (ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) return detail::tls_config_error();
      } else {
        // X509_VERIFY_PARAM_set1_host(3): "*.example.com" matches one label only, never "a*.example.com".
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1) return detail::tls_config_error();
      }
    }
  }
  if (options.session_cache != nullptr) {
    std::string key = options.session_key.empty() ? name : options.session_key;
    if (SSL_SESSION* session = options.session_cache->find(key)) {
      SSL_set_session(ssl, session);  // takes its own reference
      SSL_SESSION_free(session);
    }
    state.set_session_target(*options.session_cache, std::move(key));
  }
  return {};
}

template <class Op, class Handler, class Setup>
void start_tls_op(detail::TlsState* state, Op& op, Handler&& handler, Setup&& setup) {
  detail::start_handler_op(state->reactor(), state, op, std::forward<Handler>(handler), std::forward<Setup>(setup));
}

}  // namespace

TlsStream::TlsStream() noexcept = default;
TlsStream::TlsStream(std::unique_ptr<detail::TlsState> state) noexcept : state_(std::move(state)) {}
TlsStream::TlsStream(TlsStream&&) noexcept = default;
TlsStream& TlsStream::operator=(TlsStream&&) noexcept = default;
TlsStream::~TlsStream() = default;

Result<TlsStream> TlsStream::client(StreamSocket socket, const TlsContext& context, const TlsClientOptions& options) {
  if (context.is_server()) return fail(make_tls_error(TlsErrc::invalid_configuration));
  auto state = detail::TlsState::create(std::move(socket), context);
  if (!state) return fail(state.error());
  if (std::error_code ec = configure_client(**state, options)) return fail(ec);
  return TlsStream(std::move(*state));
}

Result<TlsStream> TlsStream::server(StreamSocket socket, const TlsContext& context) {
  if (!context.is_server()) return fail(make_tls_error(TlsErrc::invalid_configuration));
  auto state = detail::TlsState::create(std::move(socket), context);
  if (!state) return fail(state.error());
  return TlsStream(std::move(*state));
}

Task<Result<TlsStream>> TlsStream::connect(Reactor& reactor, Address address, TlsContext context,
                                           TlsClientOptions options, Duration timeout) {
  auto sock = co_await StreamSocket::connect(reactor, address, timeout);
  if (!sock) co_return fail(sock.error());
  auto tls = client(std::move(*sock), context, options);
  if (!tls) co_return fail(tls.error());
  if (std::error_code ec = co_await tls->handshake(timeout)) co_return fail(ec);
  co_return std::move(*tls);
}

// --- callback style ---------------------------------------------------------------------------------------------

void TlsStream::async_handshake(Duration timeout, ErrorHandler handler) {
  start_tls_op(state_.get(), state_->handshake_op, std::move(handler), [&](auto& op) { op.timeout = timeout; });
}

void TlsStream::async_recv(MutableBytes buffer, SizeHandler handler) {
  start_tls_op(state_.get(), state_->recv_op, std::move(handler), [&](auto& op) {
    op.buffer = buffer;
    op.exactly = false;
  });
}

void TlsStream::async_recv_exactly(MutableBytes buffer, SizeHandler handler) {
  start_tls_op(state_.get(), state_->recv_op, std::move(handler), [&](auto& op) {
    op.buffer = buffer;
    op.exactly = true;
  });
}

void TlsStream::async_recv_pooled(BufferHandler handler) {
  start_tls_op(state_.get(), state_->recv_pooled_op, std::move(handler), [](auto&) {});
}

void TlsStream::async_send(ConstBytes data, SizeHandler handler) {
  start_tls_op(state_.get(), state_->send_op, std::move(handler), [&](auto& op) {
    op.data = data;
    op.all = false;
    op.gather = {};
  });
}

void TlsStream::async_send_all(ConstBytes data, SizeHandler handler) {
  start_tls_op(state_.get(), state_->send_op, std::move(handler), [&](auto& op) {
    op.data = data;
    op.all = true;
    op.gather = {};
  });
}

void TlsStream::async_send_all(std::span<iovec> buffers, SizeHandler handler) {
  start_tls_op(state_.get(), state_->send_op, std::move(handler), [&](auto& op) {
    op.data = {};
    op.all = true;
    op.gather = buffers;
  });
}

void TlsStream::async_shutdown(ErrorHandler handler) {
  start_tls_op(state_.get(), state_->shutdown_op, std::move(handler), [](auto&) {});
}

// --- state ------------------------------------------------------------------------------------------------------

bool TlsStream::is_open() const noexcept { return state_ && state_->socket().is_open(); }

void TlsStream::close() noexcept {
  if (state_) state_->close();
}

Reactor& TlsStream::reactor() const noexcept { return state_->reactor(); }
StreamSocket& TlsStream::socket() noexcept { return state_->socket(); }
SSL* TlsStream::native_handle() const noexcept { return state_ ? state_->ssl() : nullptr; }

bool TlsStream::handshake_done() const noexcept { return state_ && SSL_is_init_finished(state_->ssl()) == 1; }

std::string_view TlsStream::protocol() const noexcept {
  if (!handshake_done()) return {};
  return SSL_get_version(state_->ssl());
}

std::string_view TlsStream::cipher() const noexcept {
  if (!handshake_done()) return {};
  const char* name = SSL_get_cipher_name(state_->ssl());
  return name ? name : "";
}

std::string_view TlsStream::alpn() const noexcept {
  if (!state_) return {};
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(state_->ssl(), &data, &len);
  return data ? std::string_view(reinterpret_cast<const char*>(data), len) : std::string_view{};
}

std::string_view TlsStream::server_name() const noexcept {
  if (!state_) return {};
  const char* name = SSL_get_servername(state_->ssl(), TLSEXT_NAMETYPE_host_name);
  return name ? name : "";
}

bool TlsStream::session_reused() const noexcept { return state_ && SSL_session_reused(state_->ssl()) == 1; }

Result<TlsCertificateInfo> TlsStream::peer_certificate() const {
  if (!state_) return fail(std::make_error_code(std::errc::bad_file_descriptor));
  X509* cert = SSL_get1_peer_certificate(state_->ssl());
  if (cert == nullptr) return fail(make_tls_error(TlsErrc::no_peer_certificate));
  auto info = TlsCertificateInfo::describe(cert);
  X509_free(cert);
  return info;
}

std::error_code TlsStream::verify_result() const noexcept {
  if (!state_) return std::make_error_code(std::errc::bad_file_descriptor);
  long v = SSL_get_verify_result(state_->ssl());
  return v == X509_V_OK ? std::error_code{} : detail::tls_error_from_verify(v);
}

TlsStream::Stats TlsStream::stats() const noexcept {
  if (!state_) return {};
  const auto& c = state_->counters();
  return {c.receives, c.sends, c.bytes_in, c.bytes_out, c.record_writes};
}

}  // namespace rfarm

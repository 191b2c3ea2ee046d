#include "tools/tls_echo.hpp"

#include "reactor/loop/reactor.hpp"
#include "reactor/tls/tls_stream.hpp"
#include "tools/accept_loop.hpp"

namespace rfarm::tools {

using namespace std::chrono_literals;

std::expected<TlsContext, std::string> make_tls_echo_context(const TlsEchoOptions& options) {
  TlsContextOptions tls;
  if (!options.files.ca_file.empty())
    tls.verify = options.require_client_certificate ? TlsVerify::require_peer : TlsVerify::verify_peer;
  return make_tls_context(TlsRole::server, options.files, tls);
}

Task<void> tls_echo(Reactor& reactor, StreamSocket conn, TlsContext context) {
  auto tls = TlsStream::server(std::move(conn), context);
  if (!tls) co_return;
  if (std::error_code ec = co_await tls->handshake(10s)) {
    reactor.log().info("TLS handshake: {}", ec.message());
    co_return;
  }
  for (;;) {
    auto data = co_await tls->recv_pooled();  // a buffer leased only when data arrives
    if (!data) {
      reactor.log().info("TLS receive: {}", data.error().message());
      co_return;
    }
    if (data->empty()) break;  // close_notify
    if (!co_await tls->send_all(data->bytes())) co_return;
  }
  co_await tls->shutdown();
}

Task<void> tls_echo_accept_loop(Reactor& reactor, StreamListener& listener, TlsContext context) {
  return accept_loop(reactor, listener, [&reactor, context](StreamSocket conn) {
    return tls_echo(reactor, std::move(conn), context);
  });
}

}  // namespace rfarm::tools

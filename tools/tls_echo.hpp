// The TLS mode of echo-server (--listen tls:HOST:PORT): the same echo, inside TLS. Kept apart from
// echo_server.cpp so the plain modes stay readable.
//
//   echo-server --listen tls:127.0.0.1:0 --tls-cert server.pem --tls-key server.key [--tls-ca ca.pem]
//               [--require-client-cert]
//   openssl s_client -connect 127.0.0.1:PORT -CAfile ca.pem
#pragma once

#include <expected>
#include <string>

#include "lib/task.hpp"
#include "reactor/net/stream_listener.hpp"
#include "reactor/tls/tls_context.hpp"
#include "tools/tls_options.hpp"

namespace rfarm::tools {

struct TlsEchoOptions {
  TlsFiles files{};                         // --tls-cert, --tls-key, --tls-ca (CAs of accepted client certificates)
  bool require_client_certificate = false;  // --require-client-cert (needs --tls-ca)
};

// The server context for the options, or the line to print: it names the option and file at fault and
// carries OpenSSL's reason.
std::expected<TlsContext, std::string> make_tls_echo_context(const TlsEchoOptions& options);

// One connection: handshakes (10 s at most), then echoes until the client's close_notify, which it answers
// with its own. Runs on the reactor that owns conn (a runtime core's, for echo-server --threads N).
Task<void> tls_echo(Reactor& reactor, StreamSocket conn, TlsContext context);

// Accepts connections until the listener closes; each one handshakes (10 s at most), then echoes until the
// client's close_notify, which it answers with its own.
Task<void> tls_echo_accept_loop(Reactor& reactor, StreamListener& listener, TlsContext context);

}  // namespace rfarm::tools

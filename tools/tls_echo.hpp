// The TLS mode of echo-server (--listen tls:HOST:PORT): the same echo, inside TLS. Kept apart from
// echo_server.cpp so the plain modes stay readable.
//
//   echo-server --listen tls:127.0.0.1:0 --tls-cert server.pem --tls-key server.key [--tls-ca ca.pem]
//               [--require-client-cert]
//   openssl s_client -connect 127.0.0.1:PORT -CAfile ca.pem
#pragma once

#include <string>
#include <string_view>

#include "lib/error.hpp"
#include "lib/task.hpp"
#include "reactor/net/stream_listener.hpp"
#include "reactor/tls/tls_context.hpp"

namespace rfarm::tools {

struct TlsEchoOptions {
  std::string certificate_file{};           // --tls-cert: PEM chain, leaf first
  std::string key_file{};                   // --tls-key
  std::string ca_file{};                    // --tls-ca: CAs whose client certificates are accepted
  bool require_client_certificate = false;  // --require-client-cert (needs --tls-ca)
};

// "tls:HOST:PORT" names a TLS endpoint; the TCP endpoint under it is "tcp:HOST:PORT".
inline bool is_tls_endpoint(std::string_view text) noexcept { return text.starts_with("tls:"); }
inline std::string tcp_endpoint_of(std::string_view tls_text) { return "tcp:" + std::string(tls_text.substr(4)); }

// The server context for the options (errors carry OpenSSL's reason).
Result<TlsContext> make_tls_echo_context(const TlsEchoOptions& options);

// Accepts connections until the listener closes; each one handshakes (10 s at most), then echoes until the
// client's close_notify, which it answers with its own.
Task<void> tls_echo_accept_loop(Reactor& reactor, StreamListener& listener, TlsContext context);

}  // namespace rfarm::tools

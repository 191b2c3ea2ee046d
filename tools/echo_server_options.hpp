// echo-server's command line (tools/cli.hpp conventions), kept apart from the serving in echo_server.cpp.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/runtime/sharded_listener.hpp"
#include "tools/tls_echo.hpp"

namespace rfarm::tools {

// How a tcp: or unix: connection is served (--style): a state machine over caller-owned callback operations
// (tools/echo_connection.hpp; 136 bytes and the socket's state per idle connection), or a coroutine per
// connection (tools/echo_stream.hpp; its frame is ~350 bytes). Both echo the same bytes.
enum class EchoStyle : std::uint8_t { callback, coroutine };

struct EchoServerOptions {
  EndpointSpec listen{};     // --listen
  ReactorOptions reactor{};  // --backend, --spin-us, --log-level
  TlsEchoOptions tls{};      // --tls-cert, --tls-key, --tls-ca, --require-client-cert (tls: listeners only)
  // --threads: reactor cores; 0 is one per CPU (the default for tcp:, tls: and unix:), 1 the single-reactor
  // path without a Runtime. udp: and unixpacket: listeners serve on one core.
  unsigned threads = 0;
  std::optional<ConnectionDistribution> distribution;  // --distribution; unset: reuseport, round robin for unix:
  EchoStyle style = EchoStyle::callback;               // --style
};

// The options argv asks for, or the status to exit with: help or version printed (0), or a usage error
// printed as one line on stderr (2).
std::expected<EchoServerOptions, int> parse_echo_server_options(int argc, char** argv);

}  // namespace rfarm::tools

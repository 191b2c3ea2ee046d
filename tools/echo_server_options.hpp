// echo-server's command line (tools/cli.hpp conventions), kept apart from the serving in echo_server.cpp.
#pragma once

#include <expected>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "tools/tls_echo.hpp"

namespace rfarm::tools {

struct EchoServerOptions {
  EndpointSpec listen{};     // --listen
  ReactorOptions reactor{};  // --backend, --spin-us, --log-level
  TlsEchoOptions tls{};      // --tls-cert, --tls-key, --tls-ca, --require-client-cert (tls: listeners only)
};

// The options argv asks for, or the status to exit with: help or version printed (0), or a usage error
// printed as one line on stderr (2).
std::expected<EchoServerOptions, int> parse_echo_server_options(int argc, char** argv);

}  // namespace rfarm::tools

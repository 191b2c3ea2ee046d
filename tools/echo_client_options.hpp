// echo-client's command line (tools/cli.hpp conventions), kept apart from the connections it runs.
#pragma once

#include <chrono>
#include <cstddef>
#include <expected>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "tools/tls_options.hpp"

namespace rfarm::tools {

struct EchoClientOptions {
  EndpointSpec connect{};   // --connect: tcp:, tls: or unix:; a host name is resolved on the loop
  int conns = 1;            // --conns
  int messages = 1000;      // --messages per connection
  std::size_t size = 64;    // --size of each message, bytes
  std::chrono::milliseconds timeout{5000};  // --timeout: each connect, handshake, round trip and the close
  TlsFiles tls{};                // --tls-ca (whom to trust), --tls-cert / --tls-key (a client certificate)
  bool insecure_skip_verify = false;  // --insecure-skip-verify: accept any server certificate
  ReactorOptions reactor{};      // --backend, --spin-us, --log-level
};

// The options argv asks for, or the status to exit with: help or version printed (0), or a usage error
// printed as one line on stderr (2).
std::expected<EchoClientOptions, int> parse_echo_client_options(int argc, char** argv);

}  // namespace rfarm::tools

// echo-server's message transports: "udp:HOST:PORT" (a batched echo: up to 64 datagrams taken with one
// recvmmsg go back to their senders with one sendmmsg) and "unixpacket:PATH" (SOCK_SEQPACKET: each record is
// echoed as one record).
#pragma once

#include <string>
#include <system_error>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"

namespace rfarm::tools {

// The names echo_server_dgram.cpp knew when endpoints were private to tools/; they are rfarm::EndpointSpec
// now (reactor/net/endpoint.hpp). Kept while that file is being changed on another branch: drop them once
// it says EndpointSpec and spec.to_string() itself.
using Endpoint = EndpointSpec;
inline std::string format_endpoint(Transport transport, const Address& address) {
  return EndpointSpec{transport, address}.to_string();
}

bool is_message_transport(Transport transport) noexcept;

// Binds the endpoint, prints the bound endpoint as the first line on stdout, and starts echoing on the loop.
// The sockets live until the reactor is destroyed.
std::error_code start_message_echo(Reactor& reactor, const EndpointSpec& endpoint);

}  // namespace rfarm::tools

// echo-server's message transports: "udp:HOST:PORT" (a batched echo: up to 64 datagrams taken with one
// recvmmsg go back to their senders with one sendmmsg; any UDP payload, up to 65527 bytes, fits) and
// "unixpacket:PATH" (SOCK_SEQPACKET: each record is echoed whole as one record, whatever its size up to
// 16 MiB; a larger one, or one that cannot be echoed, closes its connection with a logged reason).
#pragma once

#include <system_error>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"

namespace rfarm::tools {

bool is_message_transport(Transport transport) noexcept;

// Binds the endpoint, prints the bound endpoint as the first line on stdout, and starts echoing on the loop.
// The sockets live until the reactor is destroyed.
std::error_code start_message_echo(Reactor& reactor, const EndpointSpec& endpoint);

}  // namespace rfarm::tools

// Endpoints as the tools write them on the command line: "tcp:HOST:PORT" (HOST an IPv4 literal, [IPv6] or
// localhost), "unix:PATH", "unix:@NAME" (abstract), "udp:HOST:PORT", "unixpacket:PATH" (SOCK_SEQPACKET). Printed back in the same form. Where a tool connects,
// HOST may also be a name ("tcp:example.test:80"), resolved on the loop with connect_by_name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "lib/error.hpp"
#include "reactor/net/address.hpp"

namespace rfarm::tools {

enum class Transport { tcp, unix_stream, udp, unix_packet };

struct Endpoint {
  Transport transport = Transport::tcp;
  Address address;
  // From parse_connect_endpoint only: a host name still to resolve, and the port (address is unset then).
  std::string host{};
  std::uint16_t port = 0;
};

Result<Endpoint> parse_endpoint(std::string_view text);
// As parse_endpoint, but a tcp HOST that is not an IP literal (localhost included) is kept as a name.
Result<Endpoint> parse_connect_endpoint(std::string_view text);
std::string format_endpoint(Transport transport, const Address& address);

}  // namespace rfarm::tools

// Endpoints as the tools write them on the command line: "tcp:HOST:PORT" (HOST an IPv4 literal, [IPv6] or
// localhost), "unix:PATH", "unix:@NAME" (abstract). Printed back in the same form.
#pragma once

#include <string>
#include <string_view>

#include "lib/error.hpp"
#include "reactor/address.hpp"

namespace rfarm::tools {

enum class Transport { tcp, unix_stream };

struct Endpoint {
  Transport transport = Transport::tcp;
  Address address;
};

Result<Endpoint> parse_endpoint(std::string_view text);
std::string format_endpoint(Transport transport, const Address& address);

}  // namespace rfarm::tools

#include "reactor/net/endpoint.hpp"

#include "reactor/dns/resolver.hpp"

namespace rfarm::tools {

Result<Endpoint> parse_endpoint(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return fail(Errc::invalid_address);
  std::string_view scheme = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  if (scheme == "tcp" || scheme == "udp") {
    // A listener needs an address: names other than localhost are for parse_connect_endpoint.
    std::string host_port(rest);
    if (rest.starts_with("localhost:")) host_port = "127.0.0.1" + host_port.substr(9);
    auto address = Address::parse(host_port);
    if (!address) return fail(address.error());
    return Endpoint{scheme == "udp" ? Transport::udp : Transport::tcp, *address};
  }
  if (scheme == "unix" || scheme == "unixpacket") {
    auto address = rest.starts_with('@') ? Address::unix_abstract(rest.substr(1)) : Address::unix_path(rest);
    if (!address) return fail(address.error());
    return Endpoint{scheme == "unix" ? Transport::unix_stream : Transport::unix_packet, *address};
  }
  return fail(Errc::invalid_address);
}

Result<Endpoint> parse_connect_endpoint(std::string_view text) {
  auto literal = parse_endpoint(text);
  std::string_view rest = text.starts_with("tcp:") ? text.substr(4) : std::string_view{};
  auto colon = rest.rfind(':');
  bool bracketed = rest.starts_with('[');
  if (rest.starts_with("localhost:") || (!literal && !bracketed && colon != std::string_view::npos && colon > 0)) {
    auto port = Resolver::service_port(rest.substr(colon + 1));
    if (!port || rest.substr(colon + 1).empty()) return fail(Errc::invalid_address);
    return Endpoint{Transport::tcp, Address(), std::string(rest.substr(0, colon)), *port};
  }
  return literal;
}

std::string format_endpoint(Transport transport, const Address& address) {
  switch (transport) {
    case Transport::tcp: return "tcp:" + address.to_string();
    case Transport::unix_stream: return "unix:" + address.to_string();
    case Transport::udp: return "udp:" + address.to_string();
    case Transport::unix_packet: return "unixpacket:" + address.to_string();
  }
  return address.to_string();
}

}  // namespace rfarm::tools

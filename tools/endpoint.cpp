#include "tools/endpoint.hpp"

namespace rfarm::tools {

Result<Endpoint> parse_endpoint(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return fail(Errc::invalid_address);
  std::string_view scheme = text.substr(0, colon);
  std::string_view rest = text.substr(colon + 1);
  if (scheme == "tcp") {
    // Names other than localhost need the resolver; until then, literals.
    std::string host_port(rest);
    if (rest.starts_with("localhost:")) host_port = "127.0.0.1" + host_port.substr(9);
    auto address = Address::parse(host_port);
    if (!address) return fail(address.error());
    return Endpoint{Transport::tcp, *address};
  }
  if (scheme == "unix") {
    auto address = rest.starts_with('@') ? Address::unix_abstract(rest.substr(1)) : Address::unix_path(rest);
    if (!address) return fail(address.error());
    return Endpoint{Transport::unix_stream, *address};
  }
  return fail(Errc::invalid_address);
}

std::string format_endpoint(Transport transport, const Address& address) {
  return (transport == Transport::tcp ? "tcp:" : "unix:") + address.to_string();
}

}  // namespace rfarm::tools

#include "reactor/net/endpoint.hpp"

#include <netdb.h>
#include <sys/un.h>

#include <charconv>
#include <string>

namespace rfarm {

namespace {

class EndpointCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rfarm.endpoint"; }

  std::string message(int value) const override {
    switch (static_cast<EndpointErrc>(value)) {
      case EndpointErrc::empty: return "empty endpoint";
      case EndpointErrc::unknown_transport:
        return "unknown transport (want tcp:, tls:, udp:, unix:, unixpacket: or a bare HOST:PORT)";
      case EndpointErrc::missing_host: return "missing host";
      case EndpointErrc::missing_port: return "missing port";
      case EndpointErrc::port_not_a_number: return "port is not a number";
      case EndpointErrc::unknown_service: return "port is neither a number nor a service in /etc/services";
      case EndpointErrc::port_out_of_range: return "port out of range (0..65535)";
      case EndpointErrc::host_not_literal: return "host is not an IP address (listening needs one, or localhost)";
      case EndpointErrc::invalid_host_name: return "host is neither an IP address nor a valid host name";
      case EndpointErrc::invalid_ipv6: return "no IPv6 address inside [ ]";
      case EndpointErrc::unbracketed_ipv6: return "an IPv6 address needs brackets: [ADDRESS]:PORT";
      case EndpointErrc::unclosed_bracket: return "'[' without ']'";
      case EndpointErrc::junk_after_bracket: return "expected ':PORT' after ']'";
      case EndpointErrc::invalid_scope: return "bad %scope: empty, no such interface, or after an IPv4 address";
      case EndpointErrc::empty_path: return "empty Unix socket path";
      case EndpointErrc::path_too_long:
        return "Unix socket path too long (sun_path holds " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) +
               " bytes)";
      case EndpointErrc::path_has_nul: return "Unix socket path contains a NUL byte";
    }
    return "invalid endpoint";
  }

  std::error_condition default_error_condition(int) const noexcept override { return std::errc::invalid_argument; }

  // Also Condition::invalid_address, like the address-text errors of rfarm::Errc.
  bool equivalent(int value, const std::error_condition& condition) const noexcept override {
    return condition == Condition::invalid_address || default_error_condition(value) == condition;
  }
};

enum class Side { listen, connect };

constexpr std::size_t kSunPathSize = sizeof(sockaddr_un::sun_path);

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool all_digits(std::string_view s) noexcept {
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// RFC 3986 section 3.1 scheme syntax: a letter, then letters, digits, '+', '-', '.'.
bool looks_like_transport(std::string_view s) noexcept {
  if (s.empty() || !is_alpha(s[0])) return false;
  for (char c : s)
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  return true;
}

// RFC 1123 section 2.1 host names: dot-separated labels of letters, digits and '-' (not first or last), at
// most 63 bytes each and 253 in all; a trailing dot (fully qualified) is allowed. '_' is accepted too: it
// is common in internal names and resolvers pass it through.
bool is_host_name(std::string_view name) noexcept {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (label == 0 || name[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') return false;
    if (c == '-' && label == 0) return false;
    if (++label > 63) return false;
  }
  return name.back() != '-';
}

Result<std::uint16_t> parse_port(std::string_view text, Transport transport, Side side) {
  if (text.empty()) return fail(EndpointErrc::missing_port);
  if (all_digits(text)) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || value > 65535) return fail(EndpointErrc::port_out_of_range);
    return static_cast<std::uint16_t>(value);
  }
  if (side == Side::listen) return fail(EndpointErrc::port_not_a_number);
  // getservbyname_r reads /etc/services, a small local file (services(5)).
  std::string name(text);
  servent entry{};
  servent* found = nullptr;
  char buffer[4096];
  const char* protocol = transport == Transport::udp ? "udp" : "tcp";
  if (::getservbyname_r(name.c_str(), protocol, &entry, buffer, sizeof buffer, &found) != 0 || found == nullptr)
    return fail(EndpointErrc::unknown_service);
  return static_cast<std::uint16_t>(ntohs(static_cast<std::uint16_t>(found->s_port)));
}

// The host part of HOST:PORT as an IP literal; the text inside brackets must be IPv6.
Result<Address> parse_ip(std::string_view host, bool bracketed) {
  auto address = Address::from_ip(host, 0);
  if (!address) {
    if (address.error() == Errc::invalid_scope) return fail(EndpointErrc::invalid_scope);
    return fail(bracketed ? EndpointErrc::invalid_ipv6 : EndpointErrc::host_not_literal);
  }
  if (bracketed && address->family() != AddressFamily::ipv6) return fail(EndpointErrc::invalid_ipv6);
  return address;
}

// "HOST:PORT" or "[IPV6]:PORT" after the transport; left to right, so a bad host is reported before a bad port.
Result<EndpointSpec> parse_host_port(Transport transport, std::string_view text, Side side) {
  if (text.empty()) return fail(EndpointErrc::missing_host);
  std::string_view host;
  std::string_view port_text;
  bool bracketed = text.starts_with('[');
  if (bracketed) {
    auto close = text.find(']');
    if (close == std::string_view::npos) return fail(EndpointErrc::unclosed_bracket);
    host = text.substr(1, close - 1);
    std::string_view after = text.substr(close + 1);
    if (host.empty()) return fail(EndpointErrc::missing_host);
    auto address = parse_ip(host, true);
    if (!address) return fail(address.error());
    if (after.empty()) return fail(EndpointErrc::missing_port);
    if (after[0] != ':') return fail(EndpointErrc::junk_after_bracket);
    auto port = parse_port(after.substr(1), transport, side);
    if (!port) return fail(port.error());
    address->set_port(*port);
    return EndpointSpec{transport, *address};
  }

  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    host = text;  // a host alone: report it if it is wrong, else the missing port
  } else {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  if (host.find(':') != std::string_view::npos) return fail(EndpointErrc::unbracketed_ipv6);
  if (host.empty()) return fail(EndpointErrc::missing_host);

  EndpointSpec spec{transport};
  bool is_localhost = host == "localhost";
  if (side == Side::connect && !Address::from_ip(host, 0) && host.find('%') == std::string_view::npos) {
    // A name, resolved later (localhost too: the hosts file may give ::1 as well as 127.0.0.1).
    if (!is_host_name(host)) return fail(EndpointErrc::invalid_host_name);
    spec.host = std::string(host);
  } else {
    auto address = is_localhost ? Result<Address>(Address::loopback_v4(0)) : parse_ip(host, false);
    if (!address) return fail(address.error());
    spec.address = *address;
  }
  if (colon == std::string_view::npos) return fail(EndpointErrc::missing_port);
  auto port = parse_port(port_text, transport, side);
  if (!port) return fail(port.error());
  if (spec.has_host_name()) {
    spec.port = *port;
  } else {
    spec.address.set_port(*port);
  }
  return spec;
}

// "PATH" or "@NAME" after unix: / unixpacket:.
Result<EndpointSpec> parse_unix(Transport transport, std::string_view text) {
  if (text.starts_with('@')) {
    std::string_view name = text.substr(1);
    if (name.empty()) return fail(EndpointErrc::empty_path);
    if (name.size() + 1 > kSunPathSize) return fail(EndpointErrc::path_too_long);  // leading NUL, no trailing one
    auto address = Address::unix_abstract(name);
    if (!address) return fail(address.error());
    return EndpointSpec{transport, *address};
  }
  if (text.empty()) return fail(EndpointErrc::empty_path);
  if (text.find('\0') != std::string_view::npos) return fail(EndpointErrc::path_has_nul);
  if (text.size() >= kSunPathSize) return fail(EndpointErrc::path_too_long);  // and its NUL
  auto address = Address::unix_path(text);
  if (!address) return fail(address.error());
  return EndpointSpec{transport, *address};
}

constexpr Transport kTransports[] = {Transport::tcp, Transport::tls, Transport::udp, Transport::unix_stream,
                                     Transport::unix_packet};

Result<EndpointSpec> parse_endpoint(std::string_view text, Side side) {
  if (text.empty()) return fail(EndpointErrc::empty);
  auto colon = text.find(':');
  if (colon != std::string_view::npos) {
    std::string_view prefix = text.substr(0, colon);
    std::string_view rest = text.substr(colon + 1);
    for (Transport t : kTransports) {
      if (prefix != to_string(t)) continue;
      return is_ip_transport(t) ? parse_host_port(t, rest, side) : parse_unix(t, rest);
    }
    // "sctp:1.2.3.4:80" or "sctp:/path" names a transport we lack; "host:80" and "host:" are a bare
    // HOST:PORT (a port, or a missing one, follows the only colon).
    if (looks_like_transport(prefix) && !rest.empty() && !all_digits(rest))
      return fail(EndpointErrc::unknown_transport);
  } else if (text.starts_with('/') || text.starts_with('@')) {
    return fail(EndpointErrc::unknown_transport);  // a Unix path without "unix:"
  }
  return parse_host_port(Transport::tcp, text, side);
}

}  // namespace

const std::error_category& endpoint_category() noexcept {
  static const EndpointCategory category;
  return category;
}

std::string_view to_string(Transport transport) noexcept {
  switch (transport) {
    case Transport::tcp: return "tcp";
    case Transport::tls: return "tls";
    case Transport::udp: return "udp";
    case Transport::unix_stream: return "unix";
    case Transport::unix_packet: return "unixpacket";
  }
  return "?";
}

Result<EndpointSpec> EndpointSpec::parse(std::string_view text) { return parse_endpoint(text, Side::listen); }

Result<EndpointSpec> EndpointSpec::parse_connect(std::string_view text) { return parse_endpoint(text, Side::connect); }

std::string EndpointSpec::to_string() const {
  std::string text(rfarm::to_string(transport));
  text += ':';
  if (has_host_name()) {
    text += host;  // a host name has no ':', so it needs no brackets
    text += ':';
    text += std::to_string(port);
  } else {
    text += address.to_string();
  }
  return text;
}

}  // namespace rfarm

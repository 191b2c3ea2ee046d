// EndpointSpec: where to listen or connect, in the text form every rfarm tool takes on its command line.
//
//     tcp:127.0.0.1:7000   tcp:[::1]:7000   tcp:[fe80::1%eth0]:7000   127.0.0.1:7000 (a bare HOST:PORT is tcp)
//     tls:127.0.0.1:7443   (TCP with TLS on top; certificates are configured elsewhere)
//     udp:0.0.0.0:5000     unix:/run/farm.sock   unix:@farm (Linux abstract name)   unixpacket:/run/farm.pkt
//
//     auto spec = rfarm::EndpointSpec::parse("tcp:127.0.0.1:7000");             // IP literals only
//     auto peer = rfarm::EndpointSpec::parse_connect("tcp:db.internal:5432");   // keeps the name to resolve
//     if (!spec) fmt::print(stderr, "--listen {}: {}\n", text, spec.error().message());  // "missing port"
//     spec->to_string();                                                          // "tcp:127.0.0.1:7000"
//
// A failure says which part of the text is wrong (EndpointErrc: unknown transport, missing port, port out of
// range, a bad IPv6 literal, a Unix path too long for sun_path, ...); every such code compares equal to
// std::errc::invalid_argument and rfarm::Condition::invalid_address. to_string() prints the form parse()
// reads, so text -> spec -> text is the identity for canonical text (IPv6 in RFC 5952 form, a transport
// prefix, a numeric port).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "lib/error.hpp"
#include "reactor/net/address.hpp"

namespace rfarm {

enum class Transport : std::uint8_t {
  tcp,          // "tcp:HOST:PORT", or a bare "HOST:PORT"
  tls,          // "tls:HOST:PORT": TCP, then TLS
  udp,          // "udp:HOST:PORT"
  unix_stream,  // "unix:PATH", "unix:@NAME"
  unix_packet,  // "unixpacket:PATH", "unixpacket:@NAME" (SOCK_SEQPACKET)
};

// The prefix of a transport without its colon: "tcp", "tls", "udp", "unix", "unixpacket".
std::string_view to_string(Transport transport) noexcept;
// Whether the transport carries a byte stream (tcp, tls, unix) rather than messages (udp, unixpacket).
constexpr bool is_stream_transport(Transport t) noexcept {
  return t == Transport::tcp || t == Transport::tls || t == Transport::unix_stream;
}
// Whether the transport is addressed by HOST:PORT (tcp, tls, udp) rather than by a Unix path.
constexpr bool is_ip_transport(Transport t) noexcept {
  return t == Transport::tcp || t == Transport::tls || t == Transport::udp;
}

// What is wrong with an endpoint's text; error_code::message() names the part, e.g. "missing port".
enum class EndpointErrc : int {
  empty = 1,           // ""
  unknown_transport,   // "sctp:1.2.3.4:80", "/tmp/x.sock" (no transport): none of the five above
  missing_host,        // "tcp::80", "tcp:[]:80"
  missing_port,        // "tcp:127.0.0.1", "tcp:127.0.0.1:", "tcp:[::1]"
  port_not_a_number,   // "tcp:127.0.0.1:http" (parse(); parse_connect() looks service names up)
  unknown_service,     // parse_connect(): "tcp:example.test:no-such-service"
  port_out_of_range,   // "tcp:127.0.0.1:65536" (0..65535)
  host_not_literal,    // parse(): "tcp:example.test:80" (listening needs an IP address, or localhost)
  invalid_host_name,   // parse_connect(): "tcp:exa mple:80" (RFC 1123: letters, digits, '-', '.')
  invalid_ipv6,        // "tcp:[::g]:80", "tcp:[1.2.3.4]:80": no IPv6 address inside the brackets
  unbracketed_ipv6,    // "tcp:::1:80": an IPv6 address needs brackets, "tcp:[::1]:80"
  unclosed_bracket,    // "tcp:[::1:80"
  junk_after_bracket,  // "tcp:[::1]80"
  invalid_scope,       // "tcp:[fe80::1%]:80", "%no-such-interface", "tcp:127.0.0.1%eth0:80"
  empty_path,          // "unix:", "unix:@"
  path_too_long,       // a path of 108 bytes or more (sun_path holds 107 and a NUL), an abstract name of 108+
  path_has_nul,        // a path with a NUL byte inside (the kernel would stop reading at it)
};

const std::error_category& endpoint_category() noexcept;
inline std::error_code make_error_code(EndpointErrc e) noexcept { return {static_cast<int>(e), endpoint_category()}; }

struct EndpointSpec {
  Transport transport = Transport::tcp;
  // The address; unspecified when `host` names a host still to be resolved.
  Address address{};
  // Only from parse_connect(): a host name that is not an IP literal ("localhost" included), and the port
  // to connect to there. Resolve them on the loop, e.g. connect_by_name(reactor, resolver, spec.host, spec.port).
  std::string host{};
  std::uint16_t port = 0;

  // Where to listen (or connect without a lookup): the host must be an IP literal; "localhost" is taken as
  // 127.0.0.1. The port must be a number.
  //     EndpointSpec::parse("tcp:[fe80::1%eth0]:80");   EndpointSpec::parse("unix:@farm");
  static Result<EndpointSpec> parse(std::string_view text);
  // Where to connect: as parse(), but a host that is not an IP literal is kept in `host` for resolution,
  // and the port may be a service name from /etc/services ("tcp:example.test:http" -> port 80).
  static Result<EndpointSpec> parse_connect(std::string_view text);

  bool has_host_name() const noexcept { return !host.empty(); }
  // The port, wherever it is kept (0 for Unix endpoints).
  std::uint16_t port_number() const noexcept { return has_host_name() ? port : address.port(); }

  // "tcp:127.0.0.1:7000", "tls:[::1]:443", "tcp:example.test:80", "unix:/run/x.sock", "unix:@farm".
  std::string to_string() const;

  friend bool operator==(const EndpointSpec& a, const EndpointSpec& b) noexcept {
    return a.transport == b.transport && a.address == b.address && a.host == b.host && a.port == b.port;
  }
};

}  // namespace rfarm

template <>
struct std::is_error_code_enum<rfarm::EndpointErrc> : std::true_type {};

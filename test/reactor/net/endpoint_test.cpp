// EndpointSpec: the endpoint text the tools take ("tcp:HOST:PORT", "unix:PATH", ...), parsed into a
// transport and an address (or a host name to resolve), printed back in the same form, and every kind of
// mistake reported as the part that is wrong.
//
// Pure text processing with no socket and no loop, so these tests need no BackendTest (there is no backend
// to run them on); the one system lookup is /etc/services for service names, and if_nametoindex for "%lo".
#include <net/if.h>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "reactor/net/endpoint.hpp"

namespace rfarm {
namespace {

std::error_code parse_error(std::string_view text) {
  auto spec = EndpointSpec::parse(text);
  return spec ? std::error_code{} : spec.error();
}

std::error_code connect_error(std::string_view text) {
  auto spec = EndpointSpec::parse_connect(text);
  return spec ? std::error_code{} : spec.error();
}

// --- what parses -------------------------------------------------------------------------------------------

TEST(EndpointSpecTest, TcpIpv4) {
  auto e = EndpointSpec::parse("tcp:127.0.0.1:7000");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->transport, Transport::tcp);
  EXPECT_EQ(e->address, Address::loopback_v4(7000));
  EXPECT_FALSE(e->has_host_name());
  EXPECT_EQ(e->port_number(), 7000);
}

TEST(EndpointSpecTest, TcpIpv6InBrackets) {
  auto e = EndpointSpec::parse("tcp:[::1]:7000");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->address, Address::loopback_v6(7000));
}

TEST(EndpointSpecTest, Ipv6ScopeByInterfaceNameAndByIndex) {
  unsigned lo = ::if_nametoindex("lo");
  if (lo == 0) GTEST_SKIP() << "no loopback interface named lo here";
  auto named = EndpointSpec::parse("tcp:[fe80::1%lo]:80");
  ASSERT_TRUE(named) << named.error().message();
  EXPECT_EQ(named->address.scope_id(), lo);
  auto numbered = EndpointSpec::parse("udp:[fe80::1%" + std::to_string(lo) + "]:80");
  ASSERT_TRUE(numbered) << numbered.error().message();
  EXPECT_EQ(numbered->transport, Transport::udp);
  EXPECT_EQ(numbered->address, named->address);
}

TEST(EndpointSpecTest, BareHostPortMeansTcp) {
  auto v4 = EndpointSpec::parse("127.0.0.1:7000");
  ASSERT_TRUE(v4) << v4.error().message();
  EXPECT_EQ(v4->transport, Transport::tcp);
  EXPECT_EQ(v4->address, Address::loopback_v4(7000));
  auto v6 = EndpointSpec::parse("[::1]:7000");
  ASSERT_TRUE(v6) << v6.error().message();
  EXPECT_EQ(v6->transport, Transport::tcp);
  auto named = EndpointSpec::parse_connect("example.test:8080");
  ASSERT_TRUE(named) << named.error().message();
  EXPECT_EQ(named->transport, Transport::tcp);
  EXPECT_EQ(named->host, "example.test");
}

TEST(EndpointSpecTest, EveryTransport) {
  struct Case {
    std::string_view text;
    Transport transport;
  };
  for (Case c : {Case{"tcp:127.0.0.1:1", Transport::tcp}, Case{"tls:127.0.0.1:1", Transport::tls},
                 Case{"udp:127.0.0.1:1", Transport::udp}, Case{"unix:/tmp/s", Transport::unix_stream},
                 Case{"unixpacket:/tmp/s", Transport::unix_packet}}) {
    auto e = EndpointSpec::parse(c.text);
    ASSERT_TRUE(e) << c.text << ": " << e.error().message();
    EXPECT_EQ(e->transport, c.transport) << c.text;
  }
  EXPECT_TRUE(is_stream_transport(Transport::tls));
  EXPECT_FALSE(is_stream_transport(Transport::unix_packet));
  EXPECT_TRUE(is_ip_transport(Transport::udp));
  EXPECT_FALSE(is_ip_transport(Transport::unix_stream));
}

TEST(EndpointSpecTest, LocalhostMeansTheIpv4LoopbackWhereALiteralIsNeeded) {
  auto e = EndpointSpec::parse("tcp:localhost:0");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->address, Address::loopback_v4(0));
}

TEST(EndpointSpecTest, UnixPathAndAbstractName) {
  auto path = EndpointSpec::parse("unix:/run/farm.sock");
  ASSERT_TRUE(path);
  EXPECT_EQ(path->transport, Transport::unix_stream);
  EXPECT_EQ(path->address, Address::unix_path("/run/farm.sock").value());
  auto abstract = EndpointSpec::parse("unixpacket:@farm");
  ASSERT_TRUE(abstract);
  EXPECT_EQ(abstract->transport, Transport::unix_packet);
  EXPECT_EQ(abstract->address, Address::unix_abstract("farm").value());
}

TEST(EndpointSpecTest, LongestUnixPathThatFitsSunPath) {
  std::string path = "/" + std::string(sizeof(sockaddr_un::sun_path) - 2, 'p');  // 107 bytes + NUL = 108
  auto e = EndpointSpec::parse("unix:" + path);
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->address.unix_name(), path);
  std::string name(sizeof(sockaddr_un::sun_path) - 1, 'n');  // leading NUL + 107 bytes = 108
  EXPECT_TRUE(EndpointSpec::parse("unix:@" + name));
}

TEST(EndpointSpecTest, PortBoundsAreInclusive) {
  EXPECT_EQ(EndpointSpec::parse("tcp:127.0.0.1:0")->address.port(), 0);
  EXPECT_EQ(EndpointSpec::parse("tcp:127.0.0.1:65535")->address.port(), 65535);
}

// --- connecting: names are kept for the resolver --------------------------------------------------------------

TEST(EndpointSpecTest, ConnectKeepsAHostNameForTheResolver) {
  auto e = EndpointSpec::parse_connect("tcp:example.test:8080");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->transport, Transport::tcp);
  EXPECT_EQ(e->host, "example.test");
  EXPECT_EQ(e->port, 8080);
  EXPECT_EQ(e->port_number(), 8080);
  EXPECT_EQ(e->address.family(), AddressFamily::unspecified);
}

TEST(EndpointSpecTest, ConnectResolvesLocalhostLikeAnyName) {
  auto e = EndpointSpec::parse_connect("tls:localhost:7000");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->transport, Transport::tls);
  EXPECT_EQ(e->host, "localhost");
  EXPECT_EQ(e->port, 7000);
}

TEST(EndpointSpecTest, ConnectTakesAServiceNameForThePort) {
  auto e = EndpointSpec::parse_connect("tcp:example.test:http");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->port, 80);
}

TEST(EndpointSpecTest, ConnectToLiteralsAndUnixPathsNeedsNoLookup) {
  auto v6 = EndpointSpec::parse_connect("tcp:[::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_FALSE(v6->has_host_name());
  EXPECT_EQ(v6->address, Address::loopback_v6(7000));
  auto v4 = EndpointSpec::parse_connect("tcp:127.0.0.1:7000");
  ASSERT_TRUE(v4);
  EXPECT_FALSE(v4->has_host_name());
  auto unix_path = EndpointSpec::parse_connect("unix:/run/farm.sock");
  ASSERT_TRUE(unix_path);
  EXPECT_FALSE(unix_path->has_host_name());
}

// --- printing back -------------------------------------------------------------------------------------------

TEST(EndpointSpecTest, ToStringPrintsWhatParseReads) {
  for (std::string_view text :
       {"tcp:127.0.0.1:80", "tls:127.0.0.1:443", "udp:0.0.0.0:5000", "tcp:[2001:db8::1]:443", "tcp:[::]:0",
        "tcp:[fe80::1%lo]:80", "unix:/tmp/x.sock", "unix:@name", "unixpacket:/tmp/p.sock", "unixpacket:@p"}) {
    auto e = EndpointSpec::parse(text);
    ASSERT_TRUE(e) << text << ": " << e.error().message();
    EXPECT_EQ(e->to_string(), text);
    auto again = EndpointSpec::parse(e->to_string());
    ASSERT_TRUE(again) << text;
    EXPECT_EQ(*again, *e) << text;
  }
}

TEST(EndpointSpecTest, ToStringOfANameToResolve) {
  for (std::string_view text : {"tcp:example.test:80", "tls:db.internal.:5432", "tcp:localhost:7000"}) {
    auto e = EndpointSpec::parse_connect(text);
    ASSERT_TRUE(e) << text << ": " << e.error().message();
    EXPECT_EQ(e->to_string(), text);
    EXPECT_EQ(EndpointSpec::parse_connect(e->to_string()).value(), *e);
  }
}

TEST(EndpointSpecTest, ToStringIsCanonical) {
  // A bare HOST:PORT gains its "tcp:", IPv6 takes its RFC 5952 form, a service name its number.
  EXPECT_EQ(EndpointSpec::parse("127.0.0.1:80")->to_string(), "tcp:127.0.0.1:80");
  EXPECT_EQ(EndpointSpec::parse("tcp:[2001:DB8:0:0::1]:80")->to_string(), "tcp:[2001:db8::1]:80");
  EXPECT_EQ(EndpointSpec::parse_connect("tcp:example.test:http")->to_string(), "tcp:example.test:80");
  EXPECT_EQ((EndpointSpec{Transport::unix_packet, Address::unix_path("/x").value()}.to_string()), "unixpacket:/x");
}

// --- what is wrong, part by part --------------------------------------------------------------------------

TEST(EndpointSpecTest, EmptyText) { EXPECT_EQ(parse_error(""), EndpointErrc::empty); }

TEST(EndpointSpecTest, UnknownTransport) {
  for (std::string_view bad : {"carrier-pigeon:127.0.0.1:80", "sctp:1.2.3.4:80", "carrier-pigeon:coop",
                               "TCP:127.0.0.1:80", "http://example.test:80", "/tmp/x.sock", "@abstract"}) {
    EXPECT_EQ(parse_error(bad), EndpointErrc::unknown_transport) << bad;
    EXPECT_EQ(connect_error(bad), EndpointErrc::unknown_transport) << bad;
  }
}

TEST(EndpointSpecTest, MissingHost) {
  for (std::string_view bad : {"tcp:", "tcp::80", "udp:[]:80", ":80"})
    EXPECT_EQ(parse_error(bad), EndpointErrc::missing_host) << bad;
  EXPECT_EQ(connect_error("tls::443"), EndpointErrc::missing_host);
}

TEST(EndpointSpecTest, MissingPort) {
  for (std::string_view bad : {"tcp:127.0.0.1", "tcp:127.0.0.1:", "tls:[::1]", "tcp:[::1]:", "127.0.0.1:"})
    EXPECT_EQ(parse_error(bad), EndpointErrc::missing_port) << bad;
  EXPECT_EQ(connect_error("tcp:example.test"), EndpointErrc::missing_port);
  EXPECT_EQ(connect_error("tcp:example.test:"), EndpointErrc::missing_port);
}

TEST(EndpointSpecTest, PortNotANumber) {
  for (std::string_view bad : {"tcp:127.0.0.1:http", "tcp:127.0.0.1:-1", "tcp:127.0.0.1:8o", "tcp:[::1]:+80"})
    EXPECT_EQ(parse_error(bad), EndpointErrc::port_not_a_number) << bad;
}

TEST(EndpointSpecTest, UnknownServiceName) {
  EXPECT_EQ(connect_error("tcp:example.test:no-such-service"), EndpointErrc::unknown_service);
}

TEST(EndpointSpecTest, PortOutOfRange) {
  for (std::string_view bad : {"tcp:127.0.0.1:65536", "udp:[::1]:99999", "tcp:127.0.0.1:99999999999999999999"})
    EXPECT_EQ(parse_error(bad), EndpointErrc::port_out_of_range) << bad;
  EXPECT_EQ(connect_error("tcp:example.test:99999"), EndpointErrc::port_out_of_range);
}

TEST(EndpointSpecTest, ListeningNeedsAnIpLiteral) {
  for (std::string_view bad : {"tcp:example.test:80", "tcp:1.2.3:80", "tcp:256.0.0.1:80"})
    EXPECT_EQ(parse_error(bad), EndpointErrc::host_not_literal) << bad;
  EXPECT_EQ(parse_error("tcp:example.test"), EndpointErrc::host_not_literal) << "the host is reported first";
}

TEST(EndpointSpecTest, InvalidHostName) {
  std::string long_label = "tcp:" + std::string(64, 'x') + ".test:80";  // labels hold 63 bytes at most
  for (std::string_view bad : {std::string_view("tcp:exa mple:80"), std::string_view("tcp:-lead.test:80"),
                               std::string_view("tcp:trail-.test:80"), std::string_view("tcp:a..b:80"),
                               std::string_view(long_label)}) {
    EXPECT_EQ(connect_error(bad), EndpointErrc::invalid_host_name) << bad;
  }
}

TEST(EndpointSpecTest, InvalidIpv6InBrackets) {
  for (std::string_view bad : {"tcp:[::g]:80", "tcp:[1.2.3.4]:80", "tcp:[example.test]:80"}) {
    EXPECT_EQ(parse_error(bad), EndpointErrc::invalid_ipv6) << bad;
    EXPECT_EQ(connect_error(bad), EndpointErrc::invalid_ipv6) << bad;
  }
}

TEST(EndpointSpecTest, Ipv6WithoutBrackets) {
  for (std::string_view bad : {"tcp:::1:80", "tcp:2001:db8::1:80", "tcp:::1"}) {
    EXPECT_EQ(parse_error(bad), EndpointErrc::unbracketed_ipv6) << bad;
    EXPECT_EQ(connect_error(bad), EndpointErrc::unbracketed_ipv6) << bad;
  }
}

TEST(EndpointSpecTest, UnclosedBracketAndJunkAfterIt) {
  EXPECT_EQ(parse_error("tcp:[::1:80"), EndpointErrc::unclosed_bracket);
  EXPECT_EQ(parse_error("tcp:[::1]80"), EndpointErrc::junk_after_bracket);
  EXPECT_EQ(parse_error("tcp:[::1]x:80"), EndpointErrc::junk_after_bracket);
}

TEST(EndpointSpecTest, InvalidScope) {
  for (std::string_view bad : {"tcp:[fe80::1%]:80", "tcp:[fe80::1%no-such-if0]:80", "tcp:127.0.0.1%lo:80"}) {
    EXPECT_EQ(parse_error(bad), EndpointErrc::invalid_scope) << bad;
    EXPECT_EQ(connect_error(bad), EndpointErrc::invalid_scope) << bad;
  }
}

TEST(EndpointSpecTest, EmptyUnixPath) {
  for (std::string_view bad : {"unix:", "unix:@", "unixpacket:"})
    EXPECT_EQ(parse_error(bad), EndpointErrc::empty_path) << bad;
}

TEST(EndpointSpecTest, UnixPathTooLongForSunPath) {
  std::string path = "/" + std::string(sizeof(sockaddr_un::sun_path) - 1, 'p');  // 108 bytes: no room for NUL
  EXPECT_EQ(parse_error("unix:" + path), EndpointErrc::path_too_long);
  std::string name(sizeof(sockaddr_un::sun_path), 'n');
  EXPECT_EQ(parse_error("unixpacket:@" + name), EndpointErrc::path_too_long);
}

TEST(EndpointSpecTest, UnixPathWithANulByte) {
  using namespace std::string_view_literals;
  EXPECT_EQ(parse_error("unix:/tmp/a\0b"sv), EndpointErrc::path_has_nul);
}

TEST(EndpointSpecTest, ErrorsAreInvalidArgumentAndNameThePart) {
  std::error_code ec = parse_error("tcp:127.0.0.1:");
  EXPECT_EQ(ec, std::errc::invalid_argument);
  EXPECT_EQ(ec, Condition::invalid_address);
  EXPECT_EQ(ec.message(), "missing port");
  EXPECT_EQ(std::string(ec.category().name()), "rfarm.endpoint");
  EXPECT_NE(parse_error("tcp:127.0.0.1:65536").message().find("0..65535"), std::string::npos);
  EXPECT_NE(parse_error("unix:" + std::string(200, 'p')).message().find("107"), std::string::npos);
  // Each code has a message of its own.
  for (int i = static_cast<int>(EndpointErrc::empty); i <= static_cast<int>(EndpointErrc::path_has_nul); ++i)
    for (int j = i + 1; j <= static_cast<int>(EndpointErrc::path_has_nul); ++j)
      EXPECT_NE(endpoint_category().message(i), endpoint_category().message(j)) << i << " " << j;
}

}  // namespace
}  // namespace rfarm

// Endpoints as the tools take them on the command line: tcp:HOST:PORT, unix:PATH, unix:@NAME.
#include <gtest/gtest.h>

#include "reactor/net/endpoint.hpp"

namespace rfarm::tools {
namespace {

TEST(EndpointTest, TcpIpv4) {
  auto e = parse_endpoint("tcp:127.0.0.1:7000");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->transport, Transport::tcp);
  EXPECT_EQ(e->address, Address::loopback_v4(7000));
}

TEST(EndpointTest, TcpIpv6InBrackets) {
  auto e = parse_endpoint("tcp:[::1]:7000");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->address, Address::loopback_v6(7000));
}

TEST(EndpointTest, LocalhostMeansTheIpv4Loopback) {
  auto e = parse_endpoint("tcp:localhost:0");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->address, Address::loopback_v4(0));
}

TEST(EndpointTest, UnixPathAndAbstractName) {
  auto path = parse_endpoint("unix:/run/farm.sock");
  ASSERT_TRUE(path);
  EXPECT_EQ(path->transport, Transport::unix_stream);
  EXPECT_EQ(path->address, Address::unix_path("/run/farm.sock").value());
  auto abstract = parse_endpoint("unix:@farm");
  ASSERT_TRUE(abstract);
  EXPECT_EQ(abstract->address, Address::unix_abstract("farm").value());
}

TEST(EndpointTest, FormatPrintsWhatParseReads) {
  for (std::string_view text : {"tcp:127.0.0.1:80", "tcp:[2001:db8::1]:443", "unix:/tmp/x.sock", "unix:@name"}) {
    auto e = parse_endpoint(text);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(format_endpoint(e->transport, e->address), text);
  }
}

TEST(EndpointTest, UnknownSchemeOrMissingPartsAreErrors) {
  for (std::string_view bad : {"", "127.0.0.1:80", "carrier-pigeon:127.0.0.1:80", "TCP-ish:1", "tcp:", "unix:"}) {
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
  }
}

}  // namespace
}  // namespace rfarm::tools

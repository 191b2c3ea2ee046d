// Endpoints where the tools connect: tcp:HOST:PORT may name a host, resolved later on the loop.
#include <gtest/gtest.h>

#include "reactor/net/endpoint.hpp"

namespace rfarm::tools {
namespace {

TEST(ConnectEndpointTest, HostNameIsKeptForTheResolver) {
  auto e = parse_connect_endpoint("tcp:example.test:8080");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->transport, Transport::tcp);
  EXPECT_EQ(e->host, "example.test");
  EXPECT_EQ(e->port, 8080);
  EXPECT_EQ(e->address.family(), AddressFamily::unspecified);
}

TEST(ConnectEndpointTest, LocalhostIsResolvedLikeAnyName) {
  auto e = parse_connect_endpoint("tcp:localhost:7000");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "localhost");
  EXPECT_EQ(e->port, 7000);
}

TEST(ConnectEndpointTest, ServiceNameGivesItsPort) {
  auto e = parse_connect_endpoint("tcp:example.test:http");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port, 80);
}

TEST(ConnectEndpointTest, LiteralsAndUnixPathsNeedNoLookup) {
  auto v6 = parse_connect_endpoint("tcp:[::1]:7000");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->host.empty());
  EXPECT_EQ(v6->address, Address::loopback_v6(7000));
  auto v4 = parse_connect_endpoint("tcp:127.0.0.1:7000");
  ASSERT_TRUE(v4);
  EXPECT_TRUE(v4->host.empty());
  auto unix_path = parse_connect_endpoint("unix:/run/farm.sock");
  ASSERT_TRUE(unix_path);
  EXPECT_TRUE(unix_path->host.empty());
}

TEST(ConnectEndpointTest, MissingOrBadPortsAreErrors) {
  for (std::string_view bad : {"tcp:example.test", "tcp:example.test:", "tcp:example.test:99999",
                               "tcp:example.test:no-such-service", "tcp::80", "udp:example.test:80"}) {
    EXPECT_FALSE(parse_connect_endpoint(bad)) << bad;
  }
}

}  // namespace
}  // namespace rfarm::tools

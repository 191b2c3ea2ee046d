// Address: parsing and printing (IPv6 in RFC 5952 form), scope ids, Unix paths and abstract names,
// sockaddr round trips, equality and hashing. Pure: no reactor, not parametrized.
#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/un.h>

#include <string>
#include <unordered_set>

#include "reactor/net/address.hpp"

namespace rfarm {
namespace {

std::string reprint(std::string_view text) {
  auto a = Address::parse(text);
  return a ? a->to_string() : "error: " + a.error().message();
}

TEST(AddressTest, Ipv4ParsesAndPrintsBack) {
  auto a = Address::parse("192.0.2.7:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), AddressFamily::ipv4);
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->ip_string(), "192.0.2.7");
  EXPECT_EQ(a->to_string(), "192.0.2.7:8080");
  EXPECT_EQ(a->native_family(), AF_INET);
}

TEST(AddressTest, BareIpGetsPortZero) {
  EXPECT_EQ(reprint("10.1.2.3"), "10.1.2.3:0");
  EXPECT_EQ(reprint("::1"), "[::1]:0");
}

TEST(AddressTest, Ipv6LoopbackWithPortRoundTrips) { EXPECT_EQ(reprint("[::1]:80"), "[::1]:80"); }

TEST(AddressTest, Ipv6PrintsInRfc5952CanonicalForm) {
  // Leading zeros dropped, longest zero run compressed, lower case (RFC 5952 section 4).
  EXPECT_EQ(reprint("[2001:0db8:0000:0000:0000:0000:0000:0001]:443"), "[2001:db8::1]:443");
  EXPECT_EQ(reprint("[2001:DB8::A:B]:1"), "[2001:db8::a:b]:1");
  // The first of two equally long zero runs is the one compressed (section 4.2.3).
  EXPECT_EQ(reprint("[2001:db8:0:0:1:0:0:1]:1"), "[2001:db8::1:0:0:1]:1");
  // The longer run wins over an earlier shorter one.
  EXPECT_EQ(reprint("[2001:0:0:1:0:0:0:1]:1"), "[2001:0:0:1::1]:1");
  // A single zero group is not compressed (section 4.2.2).
  EXPECT_EQ(reprint("[2001:db8:0:1:1:1:1:1]:1"), "[2001:db8:0:1:1:1:1:1]:1");
  EXPECT_EQ(reprint("[::]:0"), "[::]:0");
}

TEST(AddressTest, Ipv6ScopeIdByInterfaceName) {
  unsigned lo = ::if_nametoindex("lo");
  if (lo == 0) GTEST_SKIP() << "no loopback interface named lo";
  auto a = Address::parse("[fe80::1%lo]:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->scope_id(), lo);
  EXPECT_EQ(a->to_string(), "[fe80::1%lo]:8080");
}

TEST(AddressTest, Ipv6NumericScopeIdOfAnInterfaceThatDoesNotExistPrintsAsANumber) {
  auto a = Address::parse("[fe80::1%4000000]:1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->scope_id(), 4000000u);
  EXPECT_EQ(a->to_string(), "[fe80::1%4000000]:1");
}

TEST(AddressTest, ScopeIdTakesPartInEquality) {
  auto a = Address::parse("[fe80::1%1]:80");
  auto b = Address::parse("[fe80::1%2]:80");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
}

TEST(AddressTest, InvalidTextIsAnError) {
  for (std::string_view bad : {"", "hello", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:80x", "256.1.1.1:80",
                               "1.2.3:80", "[::1", "[::1]80", "[::1]:", "[1.2.3.4]:80", "[fe80::1%]:80",
                               "[fe80::1%no-such-interface0]:80", "1.2.3.4%lo:80", "[:::1]:80"}) {
    auto a = Address::parse(bad);
    EXPECT_FALSE(a) << "\"" << bad << "\" parsed as " << a->to_string();
    // Which part was wrong may be reported in detail; every such failure is the portable invalid_argument.
    if (!a) {
      EXPECT_EQ(a.error(), std::errc::invalid_argument) << bad << ": " << a.error().message();
    }
  }
}

TEST(AddressTest, FromIpTakesHostAndPortApart) {
  auto a = Address::from_ip("2001:db8::2", 53);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->to_string(), "[2001:db8::2]:53");
  EXPECT_FALSE(Address::from_ip("2001:db8::2:53:", 1));
}

TEST(AddressTest, FactoriesMatchTheirTextForms) {
  EXPECT_EQ(Address::loopback_v4(1).to_string(), "127.0.0.1:1");
  EXPECT_EQ(Address::loopback_v6(2).to_string(), "[::1]:2");
  EXPECT_EQ(Address::any_v4(3).to_string(), "0.0.0.0:3");
  EXPECT_EQ(Address::any_v6(4).to_string(), "[::]:4");
  EXPECT_EQ(Address::ipv4({192, 0, 2, 1}, 5), Address::parse("192.0.2.1:5").value());
}

TEST(AddressTest, SetPortChangesOnlyThePort) {
  Address a = Address::parse("[2001:db8::1]:1").value();
  a.set_port(65535);
  EXPECT_EQ(a.to_string(), "[2001:db8::1]:65535");
}

TEST(AddressTest, UnixPathPrintsAsThePath) {
  auto a = Address::unix_path("/run/rfarm/farm.sock");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->family(), AddressFamily::unix_domain);
  EXPECT_FALSE(a->is_abstract());
  EXPECT_EQ(a->unix_name(), "/run/rfarm/farm.sock");
  EXPECT_EQ(a->to_string(), "/run/rfarm/farm.sock");
  EXPECT_EQ(a->port(), 0);
  EXPECT_TRUE(a->octets().empty());
}

TEST(AddressTest, UnixAbstractPrintsWithAnAtSign) {
  auto a = Address::unix_abstract("farm");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_abstract());
  EXPECT_EQ(a->unix_name(), "farm");
  EXPECT_EQ(a->to_string(), "@farm");
  // Abstract names are length-delimited (unix(7)): no terminating NUL counts.
  EXPECT_EQ(a->native_length(), offsetof(sockaddr_un, sun_path) + 1 + 4);
}

TEST(AddressTest, UnixPathAndAbstractNameOfTheSameTextDiffer) {
  EXPECT_NE(Address::unix_path("farm").value(), Address::unix_abstract("farm").value());
}

TEST(AddressTest, UnixPathTooLongOrEmptyIsAnError) {
  EXPECT_FALSE(Address::unix_path(""));
  EXPECT_FALSE(Address::unix_path(std::string(sizeof(sockaddr_un::sun_path), 'x')));
  EXPECT_TRUE(Address::unix_path(std::string(sizeof(sockaddr_un::sun_path) - 1, 'x')));
  EXPECT_FALSE(Address::unix_abstract(std::string(sizeof(sockaddr_un::sun_path), 'x')));
  EXPECT_TRUE(Address::unix_abstract(std::string(sizeof(sockaddr_un::sun_path) - 1, 'x')));
}

TEST(AddressTest, SockaddrRoundTripIsLossless) {
  for (Address a : {Address::parse("192.0.2.1:7").value(), Address::parse("[2001:db8::1%3]:9").value(),
                    Address::unix_path("/tmp/x.sock").value(), Address::unix_abstract("abc").value()}) {
    auto b = Address::from_sockaddr(a.native(), a.native_length());
    ASSERT_TRUE(b) << a.to_string();
    EXPECT_EQ(*b, a) << a.to_string();
    EXPECT_EQ(b->to_string(), a.to_string());
    EXPECT_EQ(b->native_length(), a.native_length()) << a.to_string();
  }
}

TEST(AddressTest, UnixPathFromTheKernelWithoutTerminatorEqualsThePath) {
  // getsockname() may report a path's length with or without its NUL; both mean the same address.
  Address a = Address::unix_path("/tmp/y.sock").value();
  auto shorter = Address::from_sockaddr(a.native(), a.native_length() - 1);
  ASSERT_TRUE(shorter);
  EXPECT_EQ(*shorter, a);
  EXPECT_EQ(shorter->to_string(), "/tmp/y.sock");
}

TEST(AddressTest, FromSockaddrRejectsTruncatedOrForeignAddresses) {
  Address v4 = Address::loopback_v4(1);
  EXPECT_FALSE(Address::from_sockaddr(v4.native(), v4.native_length() - 1));
  EXPECT_FALSE(Address::from_sockaddr(nullptr, 16));
  sockaddr_storage other{};
  other.ss_family = AF_PACKET;
  auto foreign = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&other), sizeof other);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error(), std::errc::address_family_not_supported);
}

TEST(AddressTest, EqualAddressesHashEqually) {
  std::unordered_set<Address> set;
  set.insert(Address::parse("192.0.2.1:80").value());
  set.insert(Address::parse("[2001:db8::1]:80").value());
  set.insert(Address::unix_path("/tmp/z.sock").value());
  EXPECT_TRUE(set.contains(Address::ipv4({192, 0, 2, 1}, 80)));
  EXPECT_TRUE(set.contains(Address::parse("[2001:0db8:0:0::1]:80").value()));
  EXPECT_TRUE(set.contains(Address::unix_path("/tmp/z.sock").value()));
  EXPECT_FALSE(set.contains(Address::parse("192.0.2.1:81").value()));
}

TEST(AddressTest, DefaultAddressIsUnspecified) {
  Address a;
  EXPECT_EQ(a.family(), AddressFamily::unspecified);
  EXPECT_FALSE(a.is_ip());
  EXPECT_EQ(a.to_string(), "unspecified");
  EXPECT_EQ(a, Address());
}

}  // namespace
}  // namespace rfarm

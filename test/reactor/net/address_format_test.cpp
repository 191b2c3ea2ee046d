// Address text beyond the basics in address_test.cpp: RFC 5952 corner cases where glibc's inet_ntop differs,
// a differential check against Python's ipaddress module, and which part of bad text the error names.
// Pure: no reactor, not parametrized.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "reactor/net/address.hpp"
#include "test/support/child_process.hpp"

namespace rfarm {
namespace {

using namespace std::chrono_literals;

std::string canonical(std::string_view ipv6_text) {
  auto a = Address::from_ip(ipv6_text, 0);
  return a ? a->ip_string() : "error: " + a.error().message();
}

TEST(AddressFormatTest, Rfc5952Examples) {
  EXPECT_EQ(canonical("2001:db8:0:0:1:0:0:1"), "2001:db8::1:0:0:1");  // 4.2.3: the first of equal runs
  EXPECT_EQ(canonical("2001:db8::0:1"), "2001:db8::1");               // 4.1: no leading zeros
  EXPECT_EQ(canonical("2001:db8::1:0:0:1"), "2001:db8::1:0:0:1");
  EXPECT_EQ(canonical("2001:DB8:0:0:0:0:2:1"), "2001:db8::2:1");      // 4.3: lower case
  EXPECT_EQ(canonical("2001:db8:0:1:1:1:1:1"), "2001:db8:0:1:1:1:1:1");  // 4.2.2: one zero group stays
  EXPECT_EQ(canonical("2001:0:0:1:0:0:0:1"), "2001:0:0:1::1");        // 4.2.3: the longest run
  EXPECT_EQ(canonical("1:0:0:2:0:0:3:4"), "1::2:0:0:3:4");
  EXPECT_EQ(canonical("0:0:0:0:0:0:0:0"), "::");
  EXPECT_EQ(canonical("1:0:0:0:0:0:0:0"), "1::");
  EXPECT_EQ(canonical("0:0:0:0:0:0:0:1"), "::1");
  EXPECT_EQ(canonical("0:0:0:0:0:1:0:0"), "::1:0:0");
  EXPECT_EQ(canonical("1:2:3:4:5:6:7:0"), "1:2:3:4:5:6:7:0");
  EXPECT_EQ(canonical("fe80:0:0:0:0:0:0:abcd"), "fe80::abcd");
}

TEST(AddressFormatTest, Ipv4MappedEndsInDottedDecimal) {
  EXPECT_EQ(canonical("0:0:0:0:0:ffff:c000:0201"), "::ffff:192.0.2.1");  // RFC 5952 section 5
  EXPECT_EQ(canonical("::ffff:0.0.0.0"), "::ffff:0.0.0.0");
}

TEST(AddressFormatTest, OtherEmbeddedIpv4StaysHexWhereGlibcPrintsDottedDecimal) {
  // IPv4-compatible addresses are deprecated (RFC 4291 section 2.5.5.1); glibc still prints ::0.2.0.2.
  EXPECT_EQ(canonical("::2:2"), "::2:2");
  EXPECT_EQ(canonical("::1.2.3.4"), "::102:304");
  EXPECT_EQ(canonical("::ffff:0:1.2.3.4"), "::ffff:0:102:304");  // IPv4-translated: not the mapped prefix
  EXPECT_EQ(canonical("64:ff9b::1.2.3.4"), "64:ff9b::102:304");
}

TEST(AddressFormatTest, ScopedAddressPrintsInBracketsWithItsZone) {
  EXPECT_EQ(Address::parse("[FE80::0001%7]:53").value().to_string(), "[fe80::1%7]:53");
  EXPECT_EQ(Address::parse("fe80::1%7").value().to_string(), "[fe80::1%7]:0");
}

// Random addresses rich in zero groups, printed by us and by Python's ipaddress (RFC 5952 compliant for
// everything but IPv4-mapped addresses, which Python before 3.13 prints in hex: those are left out).
TEST(AddressFormatTest, AgreesWithPythonIpaddressOnRandomAddresses) {
  if (!test::program_runs({test::python3(), "-c", "import ipaddress"}))
    GTEST_SKIP() << "python3 with the ipaddress module is missing";
  std::mt19937 random(5952);
  std::vector<std::array<std::uint8_t, 16>> samples;
  std::ostringstream input;
  for (int i = 0; i < 1000; ++i) {
    std::array<std::uint8_t, 16> o{};
    for (int w = 0; w < 8; ++w) {
      unsigned kind = random() % 4;  // half the groups zero: many runs, ties and single zeros
      std::uint16_t word = kind < 2 ? 0 : kind == 2 ? static_cast<std::uint16_t>(random() % 16)
                                                    : static_cast<std::uint16_t>(random());
      o[2 * w] = static_cast<std::uint8_t>(word >> 8);
      o[2 * w + 1] = static_cast<std::uint8_t>(word);
    }
    bool mapped = std::all_of(o.begin(), o.begin() + 10, [](auto b) { return b == 0; }) && o[10] == 0xff && o[11] == 0xff;
    if (mapped) continue;
    samples.push_back(o);
    for (std::uint8_t b : o) input << std::hex << (b >> 4) << (b & 0xf);
    input << '\n';
  }
  auto py = test::ChildProcess::spawn(
      {test::python3(), "-c",
       "import sys, ipaddress\n"
       "for line in sys.stdin: print(ipaddress.IPv6Address(bytes.fromhex(line.strip())), flush=False)\n"});
  ASSERT_TRUE(py) << py.error().message();
  ASSERT_TRUE(py->write(input.str()));
  py->close_stdin();
  int mismatches = 0;
  for (const auto& o : samples) {
    auto expected = py->read_line(10s);
    ASSERT_TRUE(expected) << "python stopped answering";
    std::string ours = format_ipv6(o);
    if (ours != *expected && ++mismatches <= 5) ADD_FAILURE() << "ours " << ours << ", python " << *expected;
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(py->wait(10s), 0);
}

struct BadText {
  std::string_view text;
  Errc error;
};

TEST(AddressFormatTest, ErrorNamesThePartThatIsBad) {
  const BadText cases[] = {
      {"", Errc::invalid_address},
      {"[::1", Errc::invalid_address},
      {"[::1]80", Errc::invalid_address},
      {"hello", Errc::invalid_ip},
      {"256.1.1.1:80", Errc::invalid_ip},
      {"1.2.3:80", Errc::invalid_ip},
      {"[1.2.3.4]:80", Errc::invalid_ip},
      {"[]:80", Errc::invalid_ip},
      {":80", Errc::invalid_ip},
      {"[:::1]:80", Errc::invalid_ip},
      {"1.2.3.4:", Errc::invalid_port},
      {"1.2.3.4:65536", Errc::invalid_port},
      {"1.2.3.4:-1", Errc::invalid_port},
      {"1.2.3.4:80x", Errc::invalid_port},
      {"[::1]:", Errc::invalid_port},
      {"[::1]:http", Errc::invalid_port},
      {"[fe80::1%]:80", Errc::invalid_scope},
      {"[fe80::1%no-such-if0]:80", Errc::invalid_scope},
      {"1.2.3.4%lo:80", Errc::invalid_scope},
      {"bad:port", Errc::invalid_ip},  // left to right: the host is reported first
  };
  for (const BadText& c : cases) {
    auto a = Address::parse(c.text);
    ASSERT_FALSE(a) << "\"" << c.text << "\" parsed as " << a->to_string();
    EXPECT_EQ(a.error(), make_error_code(c.error)) << "\"" << c.text << "\": " << a.error().message();
    EXPECT_TRUE(a.error() == Condition::invalid_address) << c.text;
  }
}

TEST(AddressFormatTest, SockaddrStorageRoundTrip) {
  for (Address a : {Address::parse("192.0.2.1:7").value(), Address::parse("[2001:db8::1%3]:9").value()}) {
    sockaddr_storage ss = a.storage();
    auto back = Address::from_sockaddr(ss, a.native_length());
    ASSERT_TRUE(back) << a.to_string();
    EXPECT_EQ(*back, a);
    // A length as large as the whole storage (what recvfrom callers often pass) is accepted too.
    auto roomy = Address::from_sockaddr(ss, sizeof ss);
    ASSERT_TRUE(roomy);
    EXPECT_EQ(*roomy, a);
  }
}

}  // namespace
}  // namespace rfarm

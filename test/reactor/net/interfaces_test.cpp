// list_interfaces() against iproute2's own view (`ip -j addr`, JSON): in this namespace, and in a namespace
// the test builds with known links, addresses, an alias label and a broadcast address. No reactor: plain tests.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "reactor/net/interfaces.hpp"
#include "test/support/child_process.hpp"
#include "test/support/netns.hpp"

namespace rfarm {
namespace {

using namespace std::chrono_literals;

// One line per interface: "index name mtu hw flags | address/prefix [brd B] [peer P] [label L] | ...", the
// addresses sorted. Both sides print it; Python reads `ip -j addr`.
const char* kCanonicalIp = R"(
import json, subprocess
links = json.loads(subprocess.check_output(["ip", "-j", "addr"]))
for link in links:
    flags = sorted(f for f in link.get("flags", []) if f in ("UP", "LOOPBACK", "BROADCAST", "MULTICAST", "POINTOPOINT"))
    hw = link.get("address", "-") if link.get("link_type") != "none" else "-"
    addresses = []
    for a in link.get("addr_info", []):
        text = a["local"] + "/" + str(a["prefixlen"])
        if "broadcast" in a: text += " brd " + a["broadcast"]
        if "address" in a and a["address"] != a["local"]: text += " peer " + a["address"]
        if a["family"] == "inet": text += " label " + a.get("label", link["ifname"])
        addresses.append(text)
    print(link["ifindex"], link["ifname"], link.get("mtu", 0), hw, ",".join(flags) or "-", "|", " | ".join(sorted(addresses)))
)";

std::string hardware_text(const std::vector<std::uint8_t>& hw) {
  if (hw.empty()) return "-";
  std::string s;
  char buf[4];
  for (std::size_t i = 0; i < hw.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%s%02x", i ? ":" : "", hw[i]);
    s += buf;
  }
  return s;
}

std::string canonical(const Interface& link) {
  std::vector<std::string> flags;
  if (link.supports_broadcast()) flags.push_back("BROADCAST");
  if (link.is_loopback()) flags.push_back("LOOPBACK");
  if (link.supports_multicast()) flags.push_back("MULTICAST");
  if (link.is_point_to_point()) flags.push_back("POINTOPOINT");
  if (link.is_up()) flags.push_back("UP");
  std::string flag_text;
  for (const auto& f : flags) flag_text += (flag_text.empty() ? "" : ",") + f;
  std::vector<std::string> addresses;
  for (const InterfaceAddress& a : link.addresses) {
    std::string text = a.address.family() == AddressFamily::ipv6 ? format_ipv6(a.address.octets().first<16>())
                                                                  : a.address.ip_string();
    text += "/" + std::to_string(a.prefix_length);
    if (a.broadcast) text += " brd " + a.broadcast->ip_string();
    if (a.destination && *a.destination != a.address) text += " peer " + a.destination->ip_string();
    if (a.address.family() == AddressFamily::ipv4) text += " label " + a.label;
    addresses.push_back(text);
  }
  std::sort(addresses.begin(), addresses.end());
  std::string joined;
  for (const auto& a : addresses) joined += (joined.empty() ? "" : " | ") + a;
  std::ostringstream out;
  out << link.index << ' ' << link.name << ' ' << link.mtu << ' ' << hardware_text(link.hardware_address) << ' '
      << (flag_text.empty() ? "-" : flag_text) << " | " << joined;
  return out.str();
}

std::vector<std::string> ours() {
  std::vector<std::string> lines;
  auto interfaces = list_interfaces();
  if (!interfaces) return {"error: " + interfaces.error().message()};
  for (const Interface& i : *interfaces) lines.push_back(canonical(i));
  return lines;
}

// argv_prefix: e.g. "ip netns exec NAME", to look into another namespace.
std::vector<std::string> iproute2(std::vector<std::string> argv_prefix = {}) {
  std::vector<std::string> lines;
  argv_prefix.insert(argv_prefix.end(), {test::python3(), "-c", kCanonicalIp});
  auto py = test::ChildProcess::spawn(argv_prefix);
  if (!py) return {"error: " + py.error().message()};
  py->close_stdin();
  while (auto line = py->read_line(10s)) lines.push_back(*line);
  if (py->wait(10s) != 0) lines.push_back("error: python / ip failed");
  return lines;
}

bool tools_present() { return test::program_runs({test::python3(), "-c", "import json, subprocess; subprocess.check_output(['ip', '-j', 'addr'])"}); }

TEST(InterfacesTest, MatchesIpAddrInThisNamespace) {
  if (!tools_present()) GTEST_SKIP() << "needs python3 and iproute2 with JSON output (ip -j)";
  // Another process may change the host's links between the two snapshots: agree on one of three tries.
  std::vector<std::string> mine, theirs;
  for (int attempt = 0; attempt < 3; ++attempt) {
    mine = ours();
    theirs = iproute2();
    if (mine == theirs) break;
  }
  EXPECT_EQ(mine, theirs);
  ASSERT_FALSE(mine.empty());
}

TEST(InterfacesTest, LoopbackIsUpAndCarries127001) {
  auto lo = find_interface("lo");
  ASSERT_TRUE(lo) << lo.error().message();
  EXPECT_TRUE(lo->is_up());
  EXPECT_TRUE(lo->is_loopback());
  EXPECT_EQ(lo->index, ::if_nametoindex("lo"));
  bool found = std::any_of(lo->addresses.begin(), lo->addresses.end(), [](const InterfaceAddress& a) {
    return a.address == Address::loopback_v4(0) && a.prefix_length == 8 && a.label == "lo";
  });
  EXPECT_TRUE(found);
}

TEST(InterfacesTest, UnknownNameIsNoSuchDevice) {
  auto none = find_interface("no-such-if0");
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), std::errc::no_such_device);
}

TEST(InterfacesTest, PrefixLengthCountsTheMaskBits) {
  EXPECT_EQ(prefix_length_of(Address::parse("255.255.255.0").value()), 24);
  EXPECT_EQ(prefix_length_of(Address::parse("255.255.240.0").value()), 20);
  EXPECT_EQ(prefix_length_of(Address::parse("0.0.0.0").value()), 0);
  EXPECT_EQ(prefix_length_of(Address::parse("ffff:ffff:ffff:ffff::").value()), 64);
  EXPECT_EQ(prefix_length_of(Address::parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff").value()), 128);
}

// In a namespace of its own: a veth pair, one end up with two IPv4 addresses (one under an alias label, with a
// broadcast address) and an IPv6 one.
TEST(InterfacesTest, MatchesIpAddrForLinksTheTestBuilds) {
  if (!tools_present()) GTEST_SKIP() << "needs python3 and iproute2 with JSON output (ip -j)";
  std::string why;
  auto net = test::VethNamespaces::create("ifaces", &why, {.veth_pair = false});
  if (!net) GTEST_SKIP() << "cannot create a network namespace: " << why;
  auto in_ns = [&](std::vector<std::string> argv) { return test::run_command(net->exec_in(test::Side::a, argv)); };
  if (in_ns({"ip", "link", "add", "rf0", "type", "veth", "peer", "name", "rf1"}) != 0)
    GTEST_SKIP() << "cannot create a veth pair (kernel without veth?)";
  EXPECT_EQ(in_ns({"ip", "link", "set", "rf0", "up"}), 0);
  EXPECT_EQ(in_ns({"ip", "addr", "add", "10.1.2.3/24", "brd", "+", "dev", "rf0"}), 0);
  EXPECT_EQ(in_ns({"ip", "addr", "add", "10.9.9.9/16", "dev", "rf0", "label", "rf0:alias"}), 0);
  EXPECT_EQ(in_ns({"ip", "-6", "addr", "add", "2001:db8::5/64", "dev", "rf0", "nodad"}), 0);
  EXPECT_EQ(in_ns({"ip", "link", "set", "rf1", "mtu", "1280"}), 0);
  auto mine = net->run_in(test::Side::a, [] { return ours(); });
  ASSERT_TRUE(mine) << mine.error().message();
  std::vector<std::string> theirs = iproute2(net->exec_in(test::Side::a, {}));
  auto links = net->run_in(test::Side::a, [] { return list_interfaces(); });
  ASSERT_TRUE(links) << links.error().message();
  ASSERT_TRUE(*links) << links->error().message();
  std::vector<Interface> listed = **links;
  EXPECT_EQ(*mine, theirs);

  auto rf0 = std::find_if(listed.begin(), listed.end(), [](const Interface& i) { return i.name == "rf0"; });
  ASSERT_NE(rf0, listed.end());
  EXPECT_TRUE(rf0->is_up());
  EXPECT_TRUE(rf0->supports_multicast());
  EXPECT_TRUE(rf0->supports_broadcast());
  EXPECT_EQ(rf0->hardware_address.size(), 6u);
  int ipv4 = 0, ipv6 = 0;
  for (const InterfaceAddress& a : rf0->addresses) {
    if (a.address == Address::parse("10.1.2.3").value()) {
      ++ipv4;
      EXPECT_EQ(a.prefix_length, 24);
      ASSERT_TRUE(a.broadcast);
      EXPECT_EQ(a.broadcast->ip_string(), "10.1.2.255");
      EXPECT_EQ(a.label, "rf0");
    } else if (a.address == Address::parse("10.9.9.9").value()) {
      ++ipv4;
      EXPECT_EQ(a.prefix_length, 16);
      EXPECT_EQ(a.label, "rf0:alias") << "an alias is listed under its link, with its label";
    } else if (a.address.family() == AddressFamily::ipv6) {
      if (a.address.ip_string() == "2001:db8::5") {
        ++ipv6;
        EXPECT_EQ(a.prefix_length, 64);
      }
      // The kernel also gives the link a link-local address; it carries the link as its scope.
      if (a.address.octets()[0] == 0xfe && (a.address.octets()[1] & 0xc0) == 0x80) {
        EXPECT_EQ(a.address.scope_id(), rf0->index);
      }
    }
  }
  EXPECT_EQ(ipv4, 2);
  EXPECT_EQ(ipv6, 1);
  auto rf1 = std::find_if(listed.begin(), listed.end(), [](const Interface& i) { return i.name == "rf1"; });
  ASSERT_NE(rf1, listed.end());
  EXPECT_FALSE(rf1->is_up()) << "a link that is down is listed too";
  EXPECT_EQ(rf1->mtu, 1280u);
}

}  // namespace
}  // namespace rfarm

// Network interfaces of this host (of the calling thread's network namespace), as getifaddrs(3) sees them:
// one entry per link, in index order, with its flags and every address it carries.
//
//     auto interfaces = rfarm::list_interfaces();          // Result<std::vector<Interface>>
//     for (const auto& i : *interfaces)
//       if (i.is_up() && i.supports_multicast()) use(i.index);   // e.g. for IPV6_JOIN_GROUP
#pragma once

#include <net/if.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/error.hpp"
#include "reactor/net/address.hpp"

namespace rfarm {

struct InterfaceAddress {
  Address address;    // port 0; an IPv6 link-local address carries the interface index as its scope id
  int prefix_length = 0;               // from the netmask: 24 for 255.255.255.0
  std::optional<Address> broadcast;    // IPv4 on a broadcast-capable link
  std::optional<Address> destination;  // the peer's address on a point-to-point link
  std::string label;                   // IPv4 label ("eth0:1" for an alias); empty for IPv6
};

struct Interface {
  std::string name;
  unsigned index = 0;
  unsigned flags = 0;  // IFF_* (netdevice(7)); the helpers below name the common ones
  unsigned mtu = 0;    // 0 if the kernel would not say
  std::vector<std::uint8_t> hardware_address;  // link-layer address (MAC); empty for links without one
  std::vector<InterfaceAddress> addresses;

  bool is_up() const noexcept { return flags & IFF_UP; }
  bool is_running() const noexcept { return flags & IFF_RUNNING; }  // carrier present (operationally up)
  bool is_loopback() const noexcept { return flags & IFF_LOOPBACK; }
  bool supports_multicast() const noexcept { return flags & IFF_MULTICAST; }
  bool supports_broadcast() const noexcept { return flags & IFF_BROADCAST; }
  bool is_point_to_point() const noexcept { return flags & IFF_POINTOPOINT; }
};

// Every interface, including those that are down or have no address, sorted by index.
Result<std::vector<Interface>> list_interfaces();
// One interface by name; std::errc::no_such_device if there is none.
Result<Interface> find_interface(std::string_view name);

// The prefix length of a netmask (the count of its leading one bits): 24 for 255.255.255.0.
int prefix_length_of(const Address& netmask) noexcept;

}  // namespace rfarm

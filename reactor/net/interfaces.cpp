#include "reactor/net/interfaces.hpp"

#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <map>
#include <memory>

#include "reactor/net/unique_fd.hpp"

namespace rfarm {

namespace {

struct IfaddrsDeleter {
  void operator()(ifaddrs* list) const noexcept { ::freeifaddrs(list); }
};

socklen_t sockaddr_length(const sockaddr* sa) noexcept {
  return sa->sa_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::optional<Address> ip_address(const sockaddr* sa) {
  if (sa == nullptr || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) return std::nullopt;
  auto a = Address::from_sockaddr(sa, sockaddr_length(sa));
  if (!a) return std::nullopt;
  return *a;
}

// An IPv4 address's entry is named by its label ("eth0:1"); the link is the part before the colon, which
// no interface name may contain (dev_valid_name in net/core/dev.c).
std::string_view link_name(std::string_view label) noexcept { return label.substr(0, label.find(':')); }

unsigned query_mtu(int probe_fd, const std::string& name) noexcept {
  if (probe_fd < 0 || name.size() >= IFNAMSIZ) return 0;
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  if (::ioctl(probe_fd, SIOCGIFMTU, &request) != 0) return 0;
  return static_cast<unsigned>(request.ifr_mtu);
}

}  // namespace

int prefix_length_of(const Address& netmask) noexcept {
  int bits = 0;
  for (std::uint8_t octet : netmask.octets()) {
    bits += std::countl_one(octet);
    if (octet != 0xff) break;  // a non-contiguous mask counts up to its first zero bit
  }
  return bits;
}

Result<std::vector<Interface>> list_interfaces() {
  ifaddrs* raw = nullptr;
  if (::getifaddrs(&raw) != 0) return fail_errno();
  std::unique_ptr<ifaddrs, IfaddrsDeleter> list(raw);

  std::map<std::string, Interface, std::less<>> by_name;
  auto interface_named = [&](std::string_view name) -> Interface& {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      it = by_name.emplace(std::string(name), Interface{}).first;
      it->second.name = std::string(name);
    }
    return it->second;
  };

  for (const ifaddrs* entry = list.get(); entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_name == nullptr) continue;
    std::string_view label = entry->ifa_name;
    Interface& link = interface_named(link_name(label));
    const sockaddr* sa = entry->ifa_addr;
    if (sa != nullptr && sa->sa_family == AF_PACKET) {
      // The link's own entry: its flags, index and hardware address (packet(7)).
      const auto* ll = reinterpret_cast<const sockaddr_ll*>(sa);
      link.flags = entry->ifa_flags;
      link.index = static_cast<unsigned>(ll->sll_ifindex);
      link.hardware_address.assign(ll->sll_addr, ll->sll_addr + std::min<std::size_t>(ll->sll_halen, 8));
      continue;
    }
    auto address = ip_address(sa);
    if (!address) continue;
    if (link.flags == 0) link.flags = entry->ifa_flags;
    InterfaceAddress ia;
    ia.address = *address;
    if (auto mask = ip_address(entry->ifa_netmask)) ia.prefix_length = prefix_length_of(*mask);
    // ifa_broadaddr and ifa_dstaddr share one union; the flags say which it is (getifaddrs(3)). glibc fills
    // it with the address itself when the kernel sent no IFA_BROADCAST (IFA_ADDRESS copied beside IFA_LOCAL,
    // sysdeps/unix/sysv/linux/ifaddrs.c): that means "none".
    std::optional<Address> other = ip_address(entry->ifa_broadaddr);
    if (other && *other == *address) other.reset();
    if (entry->ifa_flags & IFF_POINTOPOINT) {
      ia.destination = other;
    } else if (entry->ifa_flags & IFF_BROADCAST) {
      ia.broadcast = other;
    }
    if (sa->sa_family == AF_INET) ia.label = std::string(label);
    link.addresses.push_back(std::move(ia));
  }

  UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));  // for SIOCGIFMTU (netdevice(7))
  std::vector<Interface> interfaces;
  interfaces.reserve(by_name.size());
  for (auto& [name, link] : by_name) {
    if (link.index == 0) link.index = ::if_nametoindex(name.c_str());
    link.mtu = query_mtu(probe.get(), name);
    interfaces.push_back(std::move(link));
  }
  std::sort(interfaces.begin(), interfaces.end(),
            [](const Interface& a, const Interface& b) { return a.index < b.index; });
  return interfaces;
}

Result<Interface> find_interface(std::string_view name) {
  auto interfaces = list_interfaces();
  if (!interfaces) return fail(interfaces.error());
  for (Interface& i : *interfaces)
    if (i.name == name) return std::move(i);
  return fail(std::make_error_code(std::errc::no_such_device));
}

}  // namespace rfarm

// IP multicast, Asio-style: small typed options for a DatagramSocket, IPv4 and IPv6 alike.
//
//     auto iface = rfarm::multicast::interface_index("veth0").value();
//     sock.set(rfarm::multicast::JoinGroup(group, iface));                     // any-source (ASM)
//     sock.set(rfarm::multicast::JoinSourceGroup(group, source, iface));       // source-specific (SSM)
//     sock.set(rfarm::multicast::OutboundInterface(iface));
//     sock.set(rfarm::multicast::Hops(2));        // IP_MULTICAST_TTL / IPV6_MULTICAST_HOPS
//     sock.set(rfarm::multicast::Loopback(false));
//
// Which protocol level an option lives at depends on the family (IPPROTO_IP or IPPROTO_IPV6), so these are
// "family options": level(), name(), data() and size() take the socket's family (join / leave options follow
// their group's family). Membership uses the protocol-independent MCAST_* calls of RFC 3678 with an interface
// index; index 0 lets the kernel pick the interface by route.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <concepts>
#include <string_view>

#include "lib/error.hpp"
#include "reactor/net/address.hpp"

namespace rfarm {
namespace option {

// An option whose level / name / value depend on the socket's address family (AF_INET, AF_INET6).
template <class O>
concept FamilyOption = requires(O o, const O c, int family, socklen_t n) {
  { c.level(family) } -> std::convertible_to<int>;
  { c.name(family) } -> std::convertible_to<int>;
  { o.data(family) } -> std::convertible_to<void*>;
  { c.size(family) } -> std::convertible_to<socklen_t>;
  o.resize(family, n);
};

}  // namespace option

namespace multicast {

// The index of a network interface by name ("eth0"), in the caller's network namespace.
Result<unsigned> interface_index(std::string_view name);

// MCAST_JOIN_GROUP / MCAST_LEAVE_GROUP / MCAST_BLOCK_SOURCE ...: a group_req or group_source_req.
class Membership {
 public:
  int level(int) const noexcept { return level_; }
  int name(int) const noexcept { return name_; }
  void* data(int) noexcept { return source_specific_ ? static_cast<void*>(&with_source_) : static_cast<void*>(&any_); }
  socklen_t size(int) const noexcept { return source_specific_ ? sizeof with_source_ : sizeof any_; }
  void resize(int, socklen_t) noexcept {}

 protected:
  Membership(int name, const Address& group, unsigned interface) noexcept;
  Membership(int name, const Address& group, const Address& source, unsigned interface) noexcept;

 private:
  int level_;
  int name_;
  bool source_specific_;
  group_req any_{};
  group_source_req with_source_{};
};

// Receive the group's traffic from any source (ASM).
struct JoinGroup : Membership {
  explicit JoinGroup(const Address& group, unsigned interface = 0) noexcept
      : Membership(MCAST_JOIN_GROUP, group, interface) {}
};
struct LeaveGroup : Membership {
  explicit LeaveGroup(const Address& group, unsigned interface = 0) noexcept
      : Membership(MCAST_LEAVE_GROUP, group, interface) {}
};
// Receive the group's traffic from this one source only (SSM, RFC 4607; IGMPv3 / MLDv2). Several sources may
// be joined one by one; a group joined this way must not also be joined with JoinGroup.
struct JoinSourceGroup : Membership {
  JoinSourceGroup(const Address& group, const Address& source, unsigned interface = 0) noexcept
      : Membership(MCAST_JOIN_SOURCE_GROUP, group, source, interface) {}
};
struct LeaveSourceGroup : Membership {
  LeaveSourceGroup(const Address& group, const Address& source, unsigned interface = 0) noexcept
      : Membership(MCAST_LEAVE_SOURCE_GROUP, group, source, interface) {}
};
// In an any-source membership, stop (Block) or resume (Unblock) receiving from one source.
struct BlockSource : Membership {
  BlockSource(const Address& group, const Address& source, unsigned interface = 0) noexcept
      : Membership(MCAST_BLOCK_SOURCE, group, source, interface) {}
};
struct UnblockSource : Membership {
  UnblockSource(const Address& group, const Address& source, unsigned interface = 0) noexcept
      : Membership(MCAST_UNBLOCK_SOURCE, group, source, interface) {}
};

// An int-valued option at IPPROTO_IP or IPPROTO_IPV6 (all of them accept an int on Linux, ip(7), ipv6(7)).
template <int V4Name, int V6Name>
struct FamilyIntOption {
  FamilyIntOption() noexcept = default;
  explicit FamilyIntOption(int v) noexcept : value(v) {}
  int level(int family) const noexcept { return family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP; }
  int name(int family) const noexcept { return family == AF_INET6 ? V6Name : V4Name; }
  void* data(int) noexcept { return &value; }
  socklen_t size(int) const noexcept { return sizeof value; }
  // IP_MULTICAST_TTL / _LOOP read back as one byte on IPv4 (ip(7)).
  void resize(int, socklen_t n) noexcept {
    if (n == 1) value = *reinterpret_cast<unsigned char*>(&value);
  }
  int value = 0;
};

// How many routers a multicast datagram may cross (TTL / hop limit; default 1: the local link only).
using Hops = FamilyIntOption<IP_MULTICAST_TTL, IPV6_MULTICAST_HOPS>;

// Whether this host's own sockets (the sender's included) receive what it sends to a group (default on).
struct Loopback : FamilyIntOption<IP_MULTICAST_LOOP, IPV6_MULTICAST_LOOP> {
  Loopback() noexcept = default;
  explicit Loopback(bool on) noexcept : FamilyIntOption(on ? 1 : 0) {}
  bool enabled() const noexcept { return value != 0; }
};

// Linux: a socket bound to the wildcard address receives a group's datagrams when ANY socket of the host joined
// it (IP_MULTICAST_ALL defaults to 1, ip(7)); off, only the groups this socket joined.
struct ReceiveAll : FamilyIntOption<IP_MULTICAST_ALL, IPV6_MULTICAST_ALL> {
  ReceiveAll() noexcept = default;
  explicit ReceiveAll(bool on) noexcept : FamilyIntOption(on ? 1 : 0) {}
  bool enabled() const noexcept { return value != 0; }
};

// The interface multicast datagrams leave by (IP_MULTICAST_IF with an ip_mreqn / IPV6_MULTICAST_IF with an
// index). Index 0 goes back to choosing by route.
class OutboundInterface {
 public:
  OutboundInterface() noexcept = default;
  explicit OutboundInterface(unsigned interface) noexcept : index_(static_cast<int>(interface)) {
    v4_.imr_ifindex = index_;
  }
  unsigned index() const noexcept { return static_cast<unsigned>(index_); }

  int level(int family) const noexcept { return family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP; }
  int name(int family) const noexcept { return family == AF_INET6 ? IPV6_MULTICAST_IF : IP_MULTICAST_IF; }
  void* data(int family) noexcept { return family == AF_INET6 ? static_cast<void*>(&index_) : static_cast<void*>(&v4_); }
  socklen_t size(int family) const noexcept { return family == AF_INET6 ? sizeof index_ : sizeof v4_; }
  // IPv4 reads back the interface's address (an in_addr), not an index (ip(7)): index() is then 0.
  void resize(int family, socklen_t) noexcept {
    if (family != AF_INET6) index_ = v4_.imr_ifindex;
  }

 private:
  int index_ = 0;
  ip_mreqn v4_{};
};

}  // namespace multicast
}  // namespace rfarm

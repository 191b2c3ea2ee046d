// Typed socket options, Asio-style: each option is a small class naming its level and name and holding its
// value, so users add the ones we lack without waiting for us:
//
//     sock.set(rfarm::option::NoDelay(true));
//     auto rcvbuf = sock.get<rfarm::option::ReceiveBufferSize>();   // Result<ReceiveBufferSize>
//     struct MyOpt : rfarm::option::IntOption<SOL_SOCKET, SO_MARK> { using IntOption::IntOption; };
//
// The raw escape hatch is Socket::set_option(level, name, data, size). Every option may be set at any time
// after the socket is created (some only take effect at connect or listen, as noted).
//
// Templates: BoolOption and IntOption (an int), StringOption (TCP_CONGESTION), StructOption (SO_LINGER, or a
// user's struct); TCP_INFO has its typed read-out in reactor/net/tcp_info.hpp.
#pragma once

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <chrono>
#include <concepts>
#include <cstring>
#include <string_view>

namespace rfarm::option {

// Anything with level, name, data() and size() (and resize() for get) is an option.
template <class O>
concept SocketOption = requires(O o, const O c, socklen_t n) {
  { O::level } -> std::convertible_to<int>;
  { O::name } -> std::convertible_to<int>;
  { o.data() } -> std::convertible_to<void*>;
  { c.size() } -> std::convertible_to<socklen_t>;
  o.resize(n);
};

template <int Level, int Name>
struct BoolOption {
  static constexpr int level = Level;
  static constexpr int name = Name;
  BoolOption() noexcept = default;
  explicit BoolOption(bool on) noexcept : value(on ? 1 : 0) {}
  bool enabled() const noexcept { return value != 0; }
  void* data() noexcept { return &value; }
  socklen_t size() const noexcept { return sizeof value; }
  void resize(socklen_t) noexcept {}
  int value = 0;
};

template <int Level, int Name>
struct IntOption {
  static constexpr int level = Level;
  static constexpr int name = Name;
  IntOption() noexcept = default;
  explicit IntOption(int v) noexcept : value(v) {}
  void* data() noexcept { return &value; }
  socklen_t size() const noexcept { return sizeof value; }
  void resize(socklen_t) noexcept {}
  int value = 0;
};

// A NUL-padded name of at most Capacity bytes. Set: the text's bytes; a text longer than Capacity is sent as an
// empty value, which the kernel refuses (EINVAL) instead of acting on a truncated name. Get: value() is the
// kernel's name without its NUL padding.
template <int Level, int Name, std::size_t Capacity>
struct StringOption {
  static constexpr int level = Level;
  static constexpr int name = Name;
  StringOption() noexcept = default;  // for get(): room for Capacity bytes
  explicit StringOption(std::string_view text) noexcept
      : length(text.size() <= Capacity ? static_cast<socklen_t>(text.size()) : 0) {
    std::memcpy(buffer.data(), text.data(), length);
  }
  std::string_view value() const noexcept { return {buffer.data(), ::strnlen(buffer.data(), length)}; }
  void* data() noexcept { return buffer.data(); }
  socklen_t size() const noexcept { return length; }
  void resize(socklen_t n) noexcept { length = n < Capacity ? n : static_cast<socklen_t>(Capacity); }
  std::array<char, Capacity> buffer{};
  socklen_t length = Capacity;
};

// A C struct passed as is. After get(), length says how many bytes the kernel filled: the rest of value keeps
// its zero initialisation (an older kernel's struct may be shorter than ours).
template <int Level, int Name, class T>
struct StructOption {
  static constexpr int level = Level;
  static constexpr int name = Name;
  StructOption() noexcept = default;
  explicit StructOption(const T& v) noexcept : value(v) {}
  void* data() noexcept { return &value; }
  socklen_t size() const noexcept { return length; }
  void resize(socklen_t n) noexcept { length = n < sizeof(T) ? n : static_cast<socklen_t>(sizeof(T)); }
  T value{};
  socklen_t length = sizeof(T);
};

// --- SOL_SOCKET ---------------------------------------------------------------------------------------------
using KeepAlive = BoolOption<SOL_SOCKET, SO_KEEPALIVE>;
using ReuseAddress = BoolOption<SOL_SOCKET, SO_REUSEADDR>;  // before bind
using ReusePort = BoolOption<SOL_SOCKET, SO_REUSEPORT>;     // before bind, on every socket sharing the port
using Broadcast = BoolOption<SOL_SOCKET, SO_BROADCAST>;     // datagrams to a broadcast address
using OobInline = BoolOption<SOL_SOCKET, SO_OOBINLINE>;     // TCP urgent byte stays in the data stream
// Bytes. The kernel doubles the value set (room for its bookkeeping) and get() reports the doubled value,
// capped by net.core.rmem_max / wmem_max (socket(7)).
using ReceiveBufferSize = IntOption<SOL_SOCKET, SO_RCVBUF>;
using SendBufferSize = IntOption<SOL_SOCKET, SO_SNDBUF>;
using Mark = IntOption<SOL_SOCKET, SO_MARK>;          // fwmark for routing and filtering; needs CAP_NET_ADMIN
using BusyPoll = IntOption<SOL_SOCKET, SO_BUSY_POLL>;  // microseconds; raising it needs CAP_NET_ADMIN
using SocketError = IntOption<SOL_SOCKET, SO_ERROR>;   // get only: the pending error (errno), cleared by reading

// Whether and how long close() waits for unsent data. Linger(true, 0s) makes close() abort the connection:
// the peer gets a RST and reads ECONNRESET (socket(7), tcp(7)).
//     sock.set(rfarm::option::Linger(true, std::chrono::seconds(0)));
struct Linger : StructOption<SOL_SOCKET, SO_LINGER, ::linger> {
  Linger() noexcept = default;
  Linger(bool on, std::chrono::seconds timeout) noexcept
      : StructOption(::linger{on ? 1 : 0, static_cast<int>(timeout.count())}) {}
  bool enabled() const noexcept { return value.l_onoff != 0; }
  std::chrono::seconds timeout() const noexcept { return std::chrono::seconds(value.l_linger); }
};

// --- IP / IPv6 ----------------------------------------------------------------------------------------------
using TimeToLive = IntOption<IPPROTO_IP, IP_TTL>;  // unicast TTL of outgoing IPv4 packets
// The DSCP/TOS byte. On a TCP socket the kernel keeps the two ECN bits to itself: set(0x13) reads back 0x10.
using TypeOfService = IntOption<IPPROTO_IP, IP_TOS>;
using UnicastHops = IntOption<IPPROTO_IPV6, IPV6_UNICAST_HOPS>;  // IPv6 hop limit; -1 restores the default
using TrafficClass = IntOption<IPPROTO_IPV6, IPV6_TCLASS>;       // IPv6 TOS; TCP keeps the ECN bits too
using V6Only = BoolOption<IPPROTO_IPV6, IPV6_V6ONLY>;            // before bind: no IPv4-mapped peers

// --- TCP ----------------------------------------------------------------------------------------------------
using NoDelay = BoolOption<IPPROTO_TCP, TCP_NODELAY>;
using KeepAliveIdle = IntOption<IPPROTO_TCP, TCP_KEEPIDLE>;       // seconds before the first probe
using KeepAliveInterval = IntOption<IPPROTO_TCP, TCP_KEEPINTVL>;  // seconds between probes
using KeepAliveCount = IntOption<IPPROTO_TCP, TCP_KEEPCNT>;       // unanswered probes before the reset
// Milliseconds sent data may stay unacknowledged before the connection fails with ETIMEDOUT (RFC 5482).
using UserTimeout = IntOption<IPPROTO_TCP, TCP_USER_TIMEOUT>;
// Acknowledge at once instead of delaying. Not sticky: the kernel may leave quick-ack mode later (tcp(7)).
using QuickAck = BoolOption<IPPROTO_TCP, TCP_QUICKACK>;
// Listener: accept data in the SYN (RFC 7413); the value is the queue length of pending fast-open
// connections. Takes effect only where net.ipv4.tcp_fastopen has the server bit (2) set.
using FastOpen = IntOption<IPPROTO_TCP, TCP_FASTOPEN>;
// Client, before connect: connect() returns at once and the first send rides in the SYN when a cookie for the
// server is cached (net.ipv4.tcp_fastopen client bit 1).
using FastOpenConnect = BoolOption<IPPROTO_TCP, TCP_FASTOPEN_CONNECT>;
// Congestion control algorithm by name ("cubic", "reno", "bbr"); an unknown one fails with ENOENT.
//     sock.set(rfarm::option::Congestion("reno"));
// 15 = TCP_CA_NAME_MAX - 1 (linux/tcp.h): a longer name would be cut short by the kernel, not refused.
using Congestion = StringOption<IPPROTO_TCP, TCP_CONGESTION, 15>;

}  // namespace rfarm::option

// Typed socket options, Asio-style: each option is a small class naming its level and name and holding its
// value, so users add the ones we lack without waiting for us:
//
//     sock.set(rfarm::option::NoDelay(true));
//     auto rcvbuf = sock.get<rfarm::option::ReceiveBufferSize>();   // Result<ReceiveBufferSize>
//     struct MyOpt : rfarm::option::IntOption<SOL_SOCKET, SO_MARK> { using IntOption::IntOption; };
//
// The raw escape hatch is Socket::set_option(level, name, data, size).
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <concepts>

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

using NoDelay = BoolOption<IPPROTO_TCP, TCP_NODELAY>;
using KeepAlive = BoolOption<SOL_SOCKET, SO_KEEPALIVE>;
using KeepAliveIdle = IntOption<IPPROTO_TCP, TCP_KEEPIDLE>;       // seconds
using KeepAliveInterval = IntOption<IPPROTO_TCP, TCP_KEEPINTVL>;  // seconds
using KeepAliveCount = IntOption<IPPROTO_TCP, TCP_KEEPCNT>;
using ReuseAddress = BoolOption<SOL_SOCKET, SO_REUSEADDR>;
using ReusePort = BoolOption<SOL_SOCKET, SO_REUSEPORT>;
using ReceiveBufferSize = IntOption<SOL_SOCKET, SO_RCVBUF>;
using SendBufferSize = IntOption<SOL_SOCKET, SO_SNDBUF>;
using V6Only = BoolOption<IPPROTO_IPV6, IPV6_V6ONLY>;

}  // namespace rfarm::option

// mcast: send to or receive from a multicast group by hand (IPv4 or IPv6, any-source or source-specific).
//
//   mcast send 239.1.2.3:5000 [--iface veth0] [--ttl 2] [--loop 0|1] [--bind ADDR] [--count N] "hello"
//   mcast recv 239.1.2.3:5000 [--iface veth0] [--source 10.0.0.1] [--count N]
//   mcast recv [ff15::1234]:5000 --iface eth0
//
// recv prints "joined GROUP" once it is a member, then one line per datagram: "SENDER TEXT". It exits after
// --count datagrams (default: never; SIGINT / SIGTERM stop it).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/multicast.hpp"
#include "reactor/loop/reactor.hpp"

using namespace rfarm;

namespace {

struct Options {
  std::string mode;
  Address group;
  std::string iface;
  std::string source;
  std::string bind;
  std::string message;
  int ttl = -1;
  int loop = -1;
  long count = -1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "mcast: %s\n"
               "usage: mcast send GROUP:PORT [--iface NAME] [--ttl N] [--loop 0|1] [--bind ADDR] [--count N] MESSAGE\n"
               "       mcast recv GROUP:PORT [--iface NAME] [--source ADDR] [--count N]\n",
               why);
  std::exit(2);
}

int failed(const char* what, std::error_code ec) {
  std::fprintf(stderr, "mcast: %s: %s\n", what, ec.message().c_str());
  return 1;
}

Task<int> send_all(DatagramSocket& sock, const Options& o) {
  long count = o.count < 0 ? 1 : o.count;
  for (long i = 0; i < count; ++i) {
    auto sent = co_await sock.send_to(as_bytes(o.message), o.group);
    if (!sent) co_return failed("send", sent.error());
  }
  co_return 0;
}

Task<int> receive(DatagramSocket& sock, const Options& o) {
  std::string buffer(65536, '\0');
  for (long i = 0; o.count < 0 || i < o.count; ++i) {
    auto d = co_await sock.recv_from(as_writable_bytes(buffer));
    if (!d) co_return d.error() == std::errc::operation_canceled ? 0 : failed("receive", d.error());
    std::printf("%s %.*s\n", d->sender.ip_string().c_str(), static_cast<int>(d->size), buffer.data());
    std::fflush(stdout);
  }
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) usage("a mode and a group are required");
  Options o;
  o.mode = argv[1];
  if (o.mode != "send" && o.mode != "recv") usage("mode is send or recv");
  auto group = Address::parse(argv[2]);
  if (!group || group->port() == 0) usage("GROUP:PORT wanted, e.g. 239.1.2.3:5000 or [ff15::1]:5000");
  o.group = *group;
  for (int i = 3; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (arg == "--iface") o.iface = value();
    else if (arg == "--source") o.source = value();
    else if (arg == "--bind") o.bind = value();
    else if (arg == "--ttl") o.ttl = std::atoi(value().c_str());
    else if (arg == "--loop") o.loop = std::atoi(value().c_str());
    else if (arg == "--count") o.count = std::atol(value().c_str());
    else if (arg.starts_with("--")) usage("unknown option");
    else o.message = arg;
  }
  unsigned iface = 0;
  if (!o.iface.empty()) {
    auto index = multicast::interface_index(o.iface);
    if (!index) return failed(("interface " + o.iface).c_str(), index.error());
    iface = *index;
  }
  auto reactor = Reactor::create();
  if (!reactor) return failed("reactor", reactor.error());
  Reactor& loop = **reactor;
  bool v6 = o.group.family() == AddressFamily::ipv6;

  if (o.mode == "send") {
    auto sock = DatagramSocket::open(loop, o.group.native_family());
    if (!sock) return failed("socket", sock.error());
    if (!o.bind.empty()) {
      auto local = Address::parse(o.bind);
      if (!local) usage("bad --bind address");
      if (auto ec = sock->bind_to(*local)) return failed("bind", ec);
    }
    if (iface != 0)
      if (auto ec = sock->set(multicast::OutboundInterface(iface))) return failed("outbound interface", ec);
    if (o.ttl >= 0)
      if (auto ec = sock->set(multicast::Hops(o.ttl))) return failed("ttl", ec);
    if (o.loop >= 0)
      if (auto ec = sock->set(multicast::Loopback(o.loop != 0))) return failed("loop", ec);
    return loop.block_on(send_all(*sock, o));
  }

  Address any = v6 ? Address::any_v6(o.group.port()) : Address::any_v4(o.group.port());
  auto sock = DatagramSocket::bind(loop, any, {.reuse_address = true});
  if (!sock) return failed("bind", sock.error());
  std::error_code joined;
  if (o.source.empty()) {
    joined = sock->set(multicast::JoinGroup(o.group, iface));
  } else {
    auto source = Address::parse(o.source);
    if (!source) usage("bad --source address");
    joined = sock->set(multicast::JoinSourceGroup(o.group, *source, iface));
  }
  if (joined) return failed("join", joined);
  // Only this socket's own groups (ip(7) IP_MULTICAST_ALL), not every group some socket on the host joined.
  sock->set(multicast::ReceiveAll(false));
  std::printf("joined %s\n", o.group.to_string().c_str());
  std::fflush(stdout);
  for (int signo : {SIGINT, SIGTERM}) loop.on_signal(signo, [&](int) { sock->close(); });
  return loop.block_on(receive(*sock, o));
}

// mcast: send to or receive from a multicast group by hand (IPv4 or IPv6, any-source or source-specific).
//
//   mcast send 239.1.2.3:5000 [--iface veth0] [--ttl 2] [--loop 0|1] [--bind ADDR] [--count N] "hello"
//   mcast recv 239.1.2.3:5000 [--iface veth0] [--source 10.0.0.1] [--count N]
//   mcast recv [ff15::1234]:5000 --iface eth0
//   mcast --help | send --help | recv --help | --version       [--backend, --spin-us, --log-level anywhere]
//
// recv prints "joined GROUP" once it is a member, then one line per datagram: "SENDER TEXT". It exits after
// --count datagrams (default: never; SIGINT / SIGTERM stop it). Exit status: 0 done, 1 a socket call failed
// (no such interface, no route to the group, ...), 2 usage error (tools/cli.hpp).
#include <csignal>
#include <cstdio>
#include <string>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/net/multicast.hpp"
#include "tools/cli.hpp"

using namespace rfarm;

namespace {

struct Options {
  Address group;
  std::string iface;
  Address source;  // recv --source: unspecified unless given
  Address bind;    // send --bind: unspecified unless given
  std::string message;
  int ttl = -1;
  int loop = -1;
  long count = -1;
};

bool is_multicast(const Address& a) {
  auto o = a.octets();
  return a.family() == AddressFamily::ipv4 ? (o[0] & 0xf0) == 224 : o[0] == 0xff;  // 224.0.0.0/4, ff00::/8
}

// GROUP:PORT, or udp:GROUP:PORT: an IP multicast address and a port, checked part by part as endpoints are.
CLI::Option* add_group_argument(CLI::App& sub, Address& group) {
  CLI::Validator check(
      [](std::string& text) -> std::string {
        auto spec = EndpointSpec::parse(text.starts_with("udp:") ? text : "udp:" + text);
        if (!spec) return "\"" + text + "\": " + spec.error().message();
        if (!is_multicast(spec->address))
          return "\"" + text + "\": not a multicast group (224.0.0.0/4 or ff00::/8)";
        if (spec->address.port() == 0) return "\"" + text + "\": port 0 (a group needs a port)";
        return {};
      },
      "", "group");
  return sub
      .add_option_function<std::string>(
          "group",
          [&group](const std::string& text) {
            group = EndpointSpec::parse(text.starts_with("udp:") ? text : "udp:" + text)->address;
          },
          "The group and port: 239.1.2.3:5000, [ff15::1234]:5000")
      ->type_name("GROUP:PORT")
      ->required()
      ->check(check);
}

// An IP address (with a port if with_port), e.g. for --bind and --source.
CLI::Option* add_address_option(CLI::App& sub, const std::string& name, Address& out, bool with_port,
                                const std::string& description) {
  auto parse = [with_port](const std::string& text) {
    return with_port ? Address::parse(text) : Address::from_ip(text, 0);
  };
  return sub
      .add_option_function<std::string>(
          name, [&out, parse](const std::string& text) { out = *parse(text); }, description)
      ->type_name(with_port ? "ADDR[:PORT]" : "ADDR")
      ->check(CLI::Validator(
          [parse](std::string& text) -> std::string {
            auto parsed = parse(text);
            return parsed ? std::string() : "\"" + text + "\": " + parsed.error().message();
          },
          "", "address"));
}

int failed(const std::string& what, std::error_code ec) {
  return tools::report_failure("mcast", what + ": " + ec.message());
}

Task<int> send_all(DatagramSocket& sock, const Options& o) {
  long count = o.count < 0 ? 1 : o.count;
  for (long i = 0; i < count; ++i) {
    auto sent = co_await sock.send_to(as_bytes(o.message), o.group);
    if (!sent) co_return failed("send to " + o.group.to_string(), sent.error());
  }
  co_return tools::kExitSuccess;
}

Task<int> receive(DatagramSocket& sock, const Options& o) {
  std::string buffer(65536, '\0');
  for (long i = 0; o.count < 0 || i < o.count; ++i) {
    auto d = co_await sock.recv_from(as_writable_bytes(buffer));
    if (!d) co_return d.error() == std::errc::operation_canceled ? tools::kExitSuccess : failed("receive", d.error());
    std::printf("%s %.*s\n", d->sender.ip_string().c_str(), static_cast<int>(d->size), buffer.data());
    std::fflush(stdout);
  }
  co_return tools::kExitSuccess;
}

int run_send(Reactor& loop, const Options& o, unsigned iface) {
  auto sock = DatagramSocket::open(loop, o.group.native_family());
  if (!sock) return failed("socket", sock.error());
  if (o.bind.family() != AddressFamily::unspecified)
    if (auto ec = sock->bind_to(o.bind)) return failed("--bind " + o.bind.to_string(), ec);
  if (iface != 0)
    if (auto ec = sock->set(multicast::OutboundInterface(iface))) return failed("--iface " + o.iface, ec);
  if (o.ttl >= 0)
    if (auto ec = sock->set(multicast::Hops(o.ttl))) return failed("--ttl", ec);
  if (o.loop >= 0)
    if (auto ec = sock->set(multicast::Loopback(o.loop != 0))) return failed("--loop", ec);
  return loop.block_on(send_all(*sock, o));
}

int run_receive(Reactor& loop, const Options& o, unsigned iface) {
  bool v6 = o.group.family() == AddressFamily::ipv6;
  Address any = v6 ? Address::any_v6(o.group.port()) : Address::any_v4(o.group.port());
  auto sock = DatagramSocket::bind(loop, any, {.reuse_address = true});
  if (!sock) return failed("bind " + any.to_string(), sock.error());
  std::error_code joined = o.source.family() == AddressFamily::unspecified
                               ? sock->set(multicast::JoinGroup(o.group, iface))
                               : sock->set(multicast::JoinSourceGroup(o.group, o.source, iface));
  if (joined) return failed("join " + o.group.ip_string(), joined);
  // Only this socket's own groups (ip(7) IP_MULTICAST_ALL), not every group some socket on the host joined.
  sock->set(multicast::ReceiveAll(false));
  // Before "joined" is printed: a script may send SIGTERM as soon as it has read it.
  for (int signo : {SIGINT, SIGTERM}) loop.on_signal(signo, [&](int) { sock->close(); });
  std::printf("joined %s\n", o.group.to_string().c_str());
  std::fflush(stdout);
  return loop.block_on(receive(*sock, o));
}

}  // namespace

int main(int argc, char** argv) {
  tools::CommandLine cli("mcast", "Sends to or receives from an IP multicast group (IPv4 or IPv6, any-source or "
                                  "source-specific), by hand.");
  CLI::App& app = cli.app();
  app.require_subcommand(1);
  app.fallthrough();  // the reactor options may follow the subcommand too
  Options o;

  CLI::App* send = app.add_subcommand("send", "Send MESSAGE to the group (--count times, default once)");
  add_group_argument(*send, o.group);
  send->add_option("message", o.message, "The datagram's text")->type_name("MESSAGE")->required();
  send->add_option("--iface", o.iface, "Send through this interface (default: by route)")->type_name("NAME");
  send->add_option("--ttl", o.ttl, "Hops the datagrams may take (default 1)")
      ->type_name("0-255")
      ->check(tools::integer_in_range(0, 255));
  send->add_option("--loop", o.loop, "Deliver to this host's own members too (default 1)")
      ->type_name("0|1")
      ->check(tools::integer_in_range(0, 1));
  add_address_option(*send, "--bind", o.bind, true, "Send from this address");
  send->add_option("--count", o.count, "How many times to send it")->type_name("N")->check(tools::positive_integer());

  CLI::App* recv =
      app.add_subcommand("recv", "Join the group; print \"joined GROUP\", then \"SENDER TEXT\" per datagram");
  add_group_argument(*recv, o.group);
  recv->add_option("--iface", o.iface, "Join on this interface (default: by route)")->type_name("NAME");
  add_address_option(*recv, "--source", o.source, false, "Join source-specific: only datagrams from this sender");
  recv->add_option("--count", o.count, "Exit after N datagrams (default: never)")
      ->type_name("N")
      ->check(tools::positive_integer());

  cli.add_reactor_options();
  if (auto status = cli.parse(argc, argv)) return *status;
  if (o.source.family() != AddressFamily::unspecified && o.source.family() != o.group.family())
    return cli.usage_error("--source " + o.source.ip_string() + ": not of the group's family");

  unsigned iface = 0;
  if (!o.iface.empty()) {
    auto index = multicast::interface_index(o.iface);
    if (!index) return failed("--iface " + o.iface, index.error());
    iface = *index;
  }
  auto reactor = Reactor::create(cli.reactor_options());
  if (!reactor) return failed("cannot start the reactor", reactor.error());
  return send->parsed() ? run_send(**reactor, o, iface) : run_receive(**reactor, o, iface);
}

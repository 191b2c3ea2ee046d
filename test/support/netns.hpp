// VethNamespaces: two private network namespaces joined by a veth pair, for tests that need traffic to cross
// between hosts (multicast, broadcast), or links, addresses and per-namespace sysctls of their own
// (net.ipv4.tcp_fastopen), without touching the machine's own network. Removed again (with their interfaces)
// when the object goes away, whatever the test did. The one namespace helper of the test suite.
//
//   side a: interface "veth-a", 10.77.0.1/24 and 10.77.0.3/24, fd77::1/64 and fd77::3/64
//   side b: interface "veth-b", 10.77.0.2/24, fd77::2/64
//
//     auto net = VethNamespaces::create("mcast");         // skips the test when it cannot (not root)
//     int fd = net->socket_in(Side::b, AF_INET, SOCK_DGRAM).value();   // a socket living in namespace b
//     run_command(net->exec_in(Side::a, {"sysctl", "-qw", "net.ipv4.tcp_fastopen=3"}));
//     auto links = net->run_in(Side::a, [] { return list_interfaces(); });   // this thread, inside a, meanwhile
#pragma once

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "lib/error.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {

// Runs a command to completion (bounded); its exit status, or -1.
inline int run_command(const std::vector<std::string>& argv, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto child = ChildProcess::spawn(argv);
  if (!child) return -1;
  child->close_stdin();
  return child->wait(limit);
}

enum class Side { a, b };

// What VethNamespaces::create builds.
struct NamespaceLayout {
  bool veth_pair = true;                 // false: namespace a alone, with only its loopback (no side b)
  bool wait_for_multicast_route = true;  // for tests that send IPv6 multicast (see create())
};

class VethNamespaces {
 public:
  VethNamespaces(const VethNamespaces&) = delete;
  VethNamespaces& operator=(const VethNamespaces&) = delete;
  VethNamespaces(VethNamespaces&& o) noexcept : a_(std::move(o.a_)), b_(std::move(o.b_)) { o.a_.clear(); o.b_.clear(); }
  ~VethNamespaces() {
    // Deleting a namespace destroys its end of the veth pair, and with it the other end.
    for (const std::string& ns : {a_, b_})
      if (!ns.empty()) run({"ip", "netns", "del", ns});
  }

  // Names are unique per process and tag. On failure the error says which command failed. Each `ip` command
  // is a process: a test that needs one namespace and its loopback asks for {.veth_pair = false}.
  static Result<VethNamespaces> create(const std::string& tag, std::string* why, NamespaceLayout layout = {}) {
    std::string base = "rfarm-" + tag + "-" + std::to_string(::getpid());
    VethNamespaces n(base + "-a", layout.veth_pair ? base + "-b" : std::string());
    auto step = [&](std::vector<std::string> argv) {
      if (run(argv)) return true;
      std::string text;
      for (auto& a : argv) text += a + " ";
      *why = "'" + text + "' failed (needs root and iproute2)";
      return false;
    };
    if (!step({"ip", "netns", "add", n.a_})) {
      n.a_.clear();
      n.b_.clear();
      return fail(std::make_error_code(std::errc::operation_not_permitted));
    }
    if (!layout.veth_pair) {
      if (!step({"ip", "-n", n.a_, "link", "set", "lo", "up"})) return fail(std::make_error_code(std::errc::operation_not_permitted));
      return n;
    }
    // Without DAD the link-local address is usable at once; while it is tentative (about a second) the kernel
    // has no ff00::/8 route on the link and drops incoming IPv6 multicast (Ip6InNoRoutes).
    bool ok = step({"ip", "netns", "add", n.b_}) &&
              step({"ip", "netns", "exec", n.a_, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"}) &&
              step({"ip", "netns", "exec", n.b_, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"}) &&
              step({"ip", "link", "add", "veth-a", "netns", n.a_, "type", "veth", "peer", "name", "veth-b", "netns", n.b_}) &&
              step({"ip", "-n", n.a_, "addr", "add", "10.77.0.1/24", "dev", "veth-a"}) &&
              step({"ip", "-n", n.a_, "addr", "add", "10.77.0.3/24", "dev", "veth-a"}) &&
              step({"ip", "-n", n.b_, "addr", "add", "10.77.0.2/24", "dev", "veth-b"}) &&
              step({"ip", "-n", n.a_, "-6", "addr", "add", "fd77::1/64", "dev", "veth-a", "nodad"}) &&
              step({"ip", "-n", n.a_, "-6", "addr", "add", "fd77::3/64", "dev", "veth-a", "nodad"}) &&
              step({"ip", "-n", n.b_, "-6", "addr", "add", "fd77::2/64", "dev", "veth-b", "nodad"}) &&
              step({"ip", "-n", n.a_, "link", "set", "lo", "up"}) && step({"ip", "-n", n.b_, "link", "set", "lo", "up"}) &&
              step({"ip", "-n", n.a_, "link", "set", "veth-a", "up"}) &&
              step({"ip", "-n", n.b_, "link", "set", "veth-b", "up"});
    if (!ok) return fail(std::make_error_code(std::errc::operation_not_permitted));
    // The kernel adds the link's ff00::/8 route from a work queue after the link comes up; sending or
    // receiving IPv6 multicast before then fails (ENETUNREACH, Ip6InNoRoutes). Bounded: 200 checks.
    for (const std::string& ns : {n.a_, n.b_}) {
      if (!layout.wait_for_multicast_route) break;
      bool routed = false;
      for (int i = 0; i < 200 && !routed; ++i) {
        auto c = ChildProcess::spawn({"ip", "-n", ns, "-6", "route", "show", "table", "local", "type", "multicast"});
        routed = c && c->read_line(std::chrono::seconds(5)).value_or("").find("ff00::/8") != std::string::npos;
        if (c) c->wait(std::chrono::seconds(5));
        if (!routed) ::usleep(10000);
      }
      if (!routed) {
        *why = "no IPv6 multicast route appeared in " + ns;
        return fail(std::make_error_code(std::errc::network_unreachable));
      }
    }
    return n;
  }

  const std::string& name(Side s) const { return s == Side::a ? a_ : b_; }
  static const char* interface(Side s) { return s == Side::a ? "veth-a" : "veth-b"; }

  // A non-blocking, close-on-exec socket created inside the namespace (a socket stays in the namespace it
  // was made in, whoever uses it later).
  Result<int> socket_in(Side s, int family, int type) const {
    int fd = -1;
    auto ec = inside(s, [&] {
      fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      return fd >= 0;
    });
    if (ec) return fail(ec);
    return fd;
  }

  // The index of the namespace's veth interface.
  Result<unsigned> interface_index(Side s) const {
    unsigned index = 0;
    auto ec = inside(s, [&] {
      index = ::if_nametoindex(interface(s));
      return index != 0;
    });
    if (ec) return fail(ec);
    return index;
  }

  // Runs fn() with this thread inside the namespace (sockets it makes live there, netlink sees its links) and
  // returns what fn returned; fails with why the thread could not get in.
  template <class Fn>
  auto run_in(Side s, Fn fn) const -> Result<std::invoke_result_t<Fn&>> {
    std::optional<std::invoke_result_t<Fn&>> out;
    auto ec = inside(s, [&] {
      out.emplace(fn());
      return true;
    });
    if (ec) return fail(ec);
    return std::move(*out);
  }

  // argv prefixed with "ip netns exec <namespace>".
  std::vector<std::string> exec_in(Side s, std::vector<std::string> argv) const {
    std::vector<std::string> all{"ip", "netns", "exec", name(s)};
    all.insert(all.end(), argv.begin(), argv.end());
    return all;
  }

 private:
  VethNamespaces(std::string a, std::string b) : a_(std::move(a)), b_(std::move(b)) {}

  static bool run(const std::vector<std::string>& argv) { return run_command(argv) == 0; }

  // Runs fn with this thread in the namespace, then switches back.
  template <class Fn>
  std::error_code inside(Side s, Fn fn) const {
    int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int there = ::open(("/run/netns/" + name(s)).c_str(), O_RDONLY | O_CLOEXEC);
    std::error_code ec;
    if (home < 0 || there < 0 || ::setns(there, CLONE_NEWNET) != 0) {
      ec = last_errno();
    } else {
      if (!fn()) ec = last_errno();
      if (::setns(home, CLONE_NEWNET) != 0) std::abort();  // never continue in the wrong namespace
    }
    if (home >= 0) ::close(home);
    if (there >= 0) ::close(there);
    return ec;
  }

  std::string a_;
  std::string b_;
};

}  // namespace rfarm::test

// ScopedNetworkNamespace: puts the calling thread into a fresh network namespace of its own (loopback up) and
// back into the original one when it goes away. Sockets the thread creates meanwhile, and processes it starts,
// live in the new namespace: a test can add links and addresses or change per-namespace sysctls
// (net.ipv4.tcp_fastopen) without touching the host's network.
//
//     auto ns = ScopedNetworkNamespace::enter();
//     if (!ns) GTEST_SKIP() << "no network namespaces here: " << ns.error().message();
//     EXPECT_EQ(run_command({"ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"}), 0);
#pragma once

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/error.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {

class ScopedNetworkNamespace {
 public:
  ScopedNetworkNamespace(const ScopedNetworkNamespace&) = delete;
  ScopedNetworkNamespace& operator=(const ScopedNetworkNamespace&) = delete;
  ~ScopedNetworkNamespace() {
    // setns(2) with CLONE_NEWNET is allowed in a multi-threaded process; it affects this thread only.
    if (::setns(original_, CLONE_NEWNET) != 0) std::abort();  // a test left in the wrong namespace must not go on
    ::close(original_);
  }

  static Result<std::unique_ptr<ScopedNetworkNamespace>> enter() {
    int original = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original < 0) return fail_errno();
    if (::unshare(CLONE_NEWNET) != 0) {
      std::error_code ec = last_errno();
      ::close(original);
      return fail(ec);
    }
    std::unique_ptr<ScopedNetworkNamespace> scope(new ScopedNetworkNamespace(original));
    if (std::error_code ec = set_link_up("lo")) return fail(ec);
    return scope;
  }

  static std::error_code set_link_up(const char* name) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return last_errno();
    ifreq request{};
    std::strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    std::error_code ec;
    if (::ioctl(fd, SIOCGIFFLAGS, &request) != 0) {
      ec = last_errno();
    } else {
      request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
      if (::ioctl(fd, SIOCSIFFLAGS, &request) != 0) ec = last_errno();
    }
    ::close(fd);
    return ec;
  }

  // Writes a sysctl of this namespace, e.g. ("net/ipv4/tcp_fastopen", "3").
  static bool write_sysctl(const std::string& path, const std::string& value) {
    std::ofstream f("/proc/sys/" + path);
    f << value;
    f.close();
    return static_cast<bool>(f);
  }

 private:
  explicit ScopedNetworkNamespace(int original) : original_(original) {}
  int original_;
};

// Runs a command to completion (bounded); its exit status, or -1.
inline int run_command(const std::vector<std::string>& argv, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto child = ChildProcess::spawn(argv);
  if (!child) return -1;
  child->close_stdin();
  return child->wait(limit);
}

}  // namespace rfarm::test

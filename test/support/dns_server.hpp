// DnsServer: a real dnsmasq answering on a loopback UDP/TCP port of its own, with the records a test gives
// it, started by the test and killed when the object goes away. Nothing is forwarded anywhere (--no-resolv),
// and names under .test that no record covers get NXDOMAIN (--local=/test/).
//
//     auto dns = DnsServer::start({"--host-record=multi.test,127.0.0.1", "--host-record=multi.test,127.0.0.2"});
//     if (!dns) GTEST_SKIP() << dns.error();            // dnsmasq is not installed
//     options.servers = {dns->address()};
#pragma once

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <expected>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "reactor/net/address.hpp"

namespace rfarm::test {

// A UDP socket bound to a loopback port that never reads: a name server that never answers.
class SilentUdpServer {
 public:
  SilentUdpServer() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    Address any = Address::loopback_v4(0);
    if (fd_ >= 0 && ::bind(fd_, any.native(), any.native_length()) == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
      if (auto a = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)) address_ = *a;
    }
  }
  SilentUdpServer(const SilentUdpServer&) = delete;
  SilentUdpServer& operator=(const SilentUdpServer&) = delete;
  ~SilentUdpServer() {
    if (fd_ >= 0) ::close(fd_);
  }
  const Address& address() const { return address_; }

 private:
  int fd_ = -1;
  Address address_;
};

class DnsServer {
 public:
  // Starts dnsmasq with the extra arguments; the error says what is missing or what went wrong.
  static std::expected<DnsServer, std::string> start(const std::vector<std::string>& records) {
    std::string binary = find_dnsmasq();
    if (binary.empty()) return std::unexpected("dnsmasq is not installed (Debian package dnsmasq-base)");
    std::string last_error = "dnsmasq did not start";
    // A free port can be taken between probe and start: by a parallel test's ephemeral ports, which a C10K
    // suite uses by the thousand. So the port must be free for TCP too (dnsmasq binds both), and a few more
    // tries (three once all failed in CI).
    for (int attempt = 0; attempt < 8; ++attempt) {
      int port = free_udp_and_tcp_port();
      if (port <= 0) return std::unexpected("no free loopback UDP port");
      std::vector<std::string> args = {binary,
                                       "--keep-in-foreground",
                                       "--port=" + std::to_string(port),
                                       "--listen-address=127.0.0.1",
                                       "--bind-interfaces",
                                       "--no-resolv",
                                       "--no-hosts",
                                       "--no-poll",
                                       "--conf-file=/dev/null",
                                       "--pid-file=",
                                       "--local=/test/",
                                       "--bogus-priv",
                                       "--log-facility=/dev/null"};
      // dnsmasq started as root drops to "nobody"; staying root keeps this simple in containers.
      if (::geteuid() == 0) args.push_back("--user=root");
      args.insert(args.end(), records.begin(), records.end());
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      pid_t pid = -1;
      if (::posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
        return std::unexpected("cannot start " + binary);
      DnsServer server(pid, static_cast<std::uint16_t>(port));
      if (server.wait_until_listening()) return server;
      last_error = "dnsmasq exited or did not bind port " + std::to_string(port);
    }
    return std::unexpected(last_error);
  }

  DnsServer(DnsServer&& other) noexcept : pid_(std::exchange(other.pid_, -1)), port_(other.port_) {}
  DnsServer& operator=(DnsServer&&) = delete;
  ~DnsServer() { stop(); }

  Address address() const { return Address::loopback_v4(port_); }

  // SIGHUP: dnsmasq clears its cache and reads its --addn-hosts files again (asynchronously: poll for the effect).
  // Answers can then change while a client runs.
  //     auto dns = DnsServer::start({"--addn-hosts=" + hosts_path});   // "127.0.0.2 farm.test" lines
  //     write(hosts_path, "127.0.0.2 farm.test\n127.0.0.3 farm.test\n"); dns->reload();
  void reload() const {
    if (pid_ > 0) ::kill(pid_, SIGHUP);
  }

 private:
  DnsServer(pid_t pid, std::uint16_t port) : pid_(pid), port_(port) {}

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  // Ready once dnsmasq answers a query on its port; bounded in tries (and so in time). "The port is taken" is
  // not enough: another process (a test's ephemeral port) can take the probed port first, dnsmasq then exits
  // with "Address already in use", and the resolver tests would wait out their timeouts on a socket that never
  // answers. So: send a query for a name under .test and wait for dnsmasq's NXDOMAIN.
  bool wait_until_listening() {
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (answers_a_query(port_, static_cast<std::uint16_t>(0x5200 + i))) return true;
    }
    stop();
    return false;
  }

  // One DNS query for "probe.test" (type A) to 127.0.0.1:port; true when a reply with its id comes back within
  // 30 ms.
  static bool answers_a_query(std::uint16_t port, std::uint16_t id) {
    const unsigned char query[] = {static_cast<unsigned char>(id >> 8), static_cast<unsigned char>(id & 0xff),
                                   0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,  // RD, one question
                                   5, 'p', 'r', 'o', 'b', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    Address a = Address::loopback_v4(port);
    bool answered = false;
    if (::connect(fd, a.native(), a.native_length()) == 0 && ::send(fd, query, sizeof query, 0) > 0) {
      pollfd p{fd, POLLIN, 0};
      unsigned char reply[512];
      // A refused port (nothing bound yet) reports ECONNREFUSED on recv: not answered, try again.
      if (::poll(&p, 1, 30) == 1) {
        ssize_t n = ::recv(fd, reply, sizeof reply, 0);
        answered = n >= 2 && reply[0] == query[0] && reply[1] == query[1];
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    ::close(fd);
    if (!answered) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return answered;
  }

  static int free_udp_port() {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    Address a = Address::loopback_v4(0);
    int port = -1;
    if (::bind(fd, a.native(), a.native_length()) == 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
      if (auto bound = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)) port = bound->port();
    }
    ::close(fd);
    return port;
  }

  // A loopback port free for UDP and, at this moment, for a TCP listener too; -1 if none turned up.
  static int free_udp_and_tcp_port() {
    for (int i = 0; i < 16; ++i) {
      int port = free_udp_port();
      if (port <= 0) return -1;
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      Address a = Address::loopback_v4(static_cast<std::uint16_t>(port));
      const bool free = fd >= 0 && ::bind(fd, a.native(), a.native_length()) == 0 && ::listen(fd, 1) == 0;
      if (fd >= 0) ::close(fd);
      if (free) return port;
    }
    return -1;
  }

  static std::string find_dnsmasq() {
    for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"}) {
      std::string path = std::string(dir) + "/dnsmasq";
      if (::access(path.c_str(), X_OK) == 0) return path;
    }
    return {};
  }

  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace rfarm::test

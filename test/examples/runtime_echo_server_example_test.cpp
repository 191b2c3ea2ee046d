// The README's one-reactor-per-core example, run as a program: it must print where it listens, echo what
// plain blocking sockets send on several connections at once (spread over its cores), and exit 0 on SIGINT
// once they have closed (the graceful shutdown has nothing left to drain).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "reactor/net/address.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

TEST(RuntimeEchoServerExample, EchoesOnEveryConnectionAndStopsOnSigint) {
  const char* program = std::getenv("RFARM_EXAMPLE_RUNTIME_ECHO_SERVER");
  ASSERT_NE(program, nullptr) << "RFARM_EXAMPLE_RUNTIME_ECHO_SERVER is not set (meson sets it)";
  auto server = ChildProcess::spawn({program, "0"});
  ASSERT_TRUE(server) << server.error().message();
  auto line = server->read_line(10s);
  ASSERT_TRUE(line) << "the example printed nothing";
  const std::string prefix = "listening on ";
  ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
  auto address = Address::parse(line->substr(prefix.size()));
  ASSERT_TRUE(address) << *line;

  std::vector<int> fds;
  for (int i = 0; i < 8; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    timeval limit{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    ASSERT_EQ(::connect(fd, address->native(), address->native_length()), 0) << std::strerror(errno);
  }
  for (std::size_t i = 0; i < fds.size(); ++i) {
    const std::string message = "hello from plain socket " + std::to_string(i);
    ASSERT_EQ(::send(fds[i], message.data(), message.size(), 0), static_cast<ssize_t>(message.size()));
    std::string echoed;
    while (echoed.size() < message.size()) {
      char buf[256];
      ssize_t n = ::recv(fds[i], buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "no echo on connection " << i;
      echoed.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_EQ(echoed, message);
  }
  for (int fd : fds) ::close(fd);

  ::kill(server->pid(), SIGINT);
  EXPECT_EQ(server->wait(5s), 0);
}

}  // namespace
}  // namespace rfarm::test

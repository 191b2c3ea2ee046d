// The README's echo server example, run as a program: it must print where it listens, echo what a client
// that is not rfarm sends (a plain blocking socket here), and exit 0 on SIGINT.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "reactor/net/address.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

TEST(EchoServerExample, EchoesAndStopsOnSigint) {
  const char* program = std::getenv("RFARM_EXAMPLE_ECHO_SERVER");
  ASSERT_NE(program, nullptr) << "RFARM_EXAMPLE_ECHO_SERVER is not set (meson sets it)";
  auto server = ChildProcess::spawn({program, "0"});
  ASSERT_TRUE(server) << server.error().message();
  auto line = server->read_line(5s);
  ASSERT_TRUE(line) << "the example printed nothing";
  const std::string prefix = "listening on ";
  ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
  auto address = Address::parse(line->substr(prefix.size()));
  ASSERT_TRUE(address) << *line;

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  ASSERT_EQ(::connect(fd, address->native(), address->native_length()), 0) << std::strerror(errno);
  const std::string message = "hello from a plain socket";
  ASSERT_EQ(::send(fd, message.data(), message.size(), 0), static_cast<ssize_t>(message.size()));
  std::string echoed;
  while (echoed.size() < message.size()) {
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << "no echo";
    echoed.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(echoed, message);
  ::close(fd);

  ::kill(server->pid(), SIGINT);
  EXPECT_EQ(server->wait(5s), 0);
}

}  // namespace
}  // namespace rfarm::test

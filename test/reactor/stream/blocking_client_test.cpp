// BlockingClient against real servers (socat, Python), with its private reactor on each backend: echo of
// lines and binary data, timeouts that leave the stream usable, a server closing mid-read, refused and
// timed-out connects, connecting by host name. Timeouts are only ever provoked by a server that provably
// does not answer (it waits for a command from us, or its backlog is full), never by racing a clock.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"
#include "reactor/stream/blocking_client.hpp"
#include "test/support/dns_server.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

class BlockingClientTest : public BackendTest {
 protected:
  BlockingClientOptions options() const {
    BlockingClientOptions o;
    o.backend = GetParam();
    return o;
  }

  // Names from a hosts file of the test's own; DNS is a loopback socket that never answers, so no lookup
  // leaves the machine.
  BlockingClientOptions by_name_options() {
    BlockingClientOptions o = options();
    if (hosts_path_.empty()) {
      char path[] = "/tmp/rfarm-hosts-XXXXXX";
      int fd = ::mkstemp(path);
      if (fd >= 0) ::close(fd);
      hosts_path_ = path;
      std::ofstream(hosts_path_) << "127.0.0.1 echo-peer.test\n";
    }
    o.resolver.hosts_file = hosts_path_;
    o.resolver.search_domains = std::vector<std::string>{};
    o.resolver.servers = {silent_dns_.address()};
    o.resolver.attempt_timeout = 100ms;
    o.resolver.tries = 1;
    return o;
  }

  // socat echoing every connection back (PIPE), on a port it picks and reports with -d -d.
  std::optional<std::pair<ChildProcess, std::uint16_t>> start_socat_echo() {
    auto child = ChildProcess::spawn({"sh", "-c", "exec socat -d -d TCP-LISTEN:0,bind=127.0.0.1,fork PIPE 2>&1"});
    if (!child) return std::nullopt;
    for (int i = 0; i < 20; ++i) {
      auto line = child->read_line(10s);
      if (!line) return std::nullopt;
      if (auto at = line->find("listening on"); at != std::string::npos)
        return std::pair{std::move(*child), static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)))};
    }
    return std::nullopt;
  }

  // A one-connection Python server that prints its port and runs body with the accepted socket c.
  std::optional<std::pair<ChildProcess, std::uint16_t>> start_python(const std::string& body) {
    auto child = ChildProcess::spawn({python3(), "-c",
                                      "import socket, time\n"
                                      "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
                                      "print(s.getsockname()[1], flush=True)\n"
                                      "s.settimeout(20)\n"
                                      "c, _ = s.accept(); c.settimeout(20)\n" +
                                          body});
    if (!child) return std::nullopt;
    auto port = child->read_line(10s);
    if (!port || port->empty()) return std::nullopt;
    return std::pair{std::move(*child), static_cast<std::uint16_t>(std::stoi(*port))};
  }

  void TearDown() override {
    if (!hosts_path_.empty()) ::unlink(hosts_path_.c_str());
    BackendTest::TearDown();
  }

 private:
  std::string hosts_path_;
  SilentUdpServer silent_dns_;
};

TEST_P(BlockingClientTest, ExchangesLinesAndBinaryWithSocatEcho) {
  auto socat = start_socat_echo();
  if (!socat) GTEST_SKIP() << "socat is not available";
  auto client = BlockingClient::connect("127.0.0.1", socat->second, 5s, options());
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_EQ(client->backend_kind(), GetParam());

  std::string binary(100000, '\0');
  for (std::size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>((i * 13) & 0xff);
  ASSERT_FALSE(client->write_all("hello\r\n", 5s));
  ASSERT_FALSE(client->write_all(as_bytes(binary), 5s));
  ASSERT_FALSE(client->write_all("bye\n", 5s));

  EXPECT_EQ(client->read_line(100, 5s).value_or("error"), "hello");
  std::string echoed(binary.size(), '\0');
  auto n = client->read_exactly(as_writable_bytes(echoed), 5s);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_TRUE(echoed == binary);
  EXPECT_EQ(client->read_line(100, 5s).value_or("error"), "bye");
}

TEST_P(BlockingClientTest, ReadLineTimeoutKeepsThePartialLineForTheRetry) {
  // The server sends half a line, then the rest only after our "GO": the first read cannot complete.
  auto peer = start_python(
      "c.sendall(b'par')\n"
      "f = c.makefile('rb')\n"
      "assert f.readline() == b'GO\\n'\n"
      "c.sendall(b'tial\\r\\n')\n"
      "c.recv(1); c.close()\n");
  if (!peer) GTEST_SKIP() << "python3 is not available";
  auto client = BlockingClient::connect("127.0.0.1", peer->second, 5s, options());
  ASSERT_TRUE(client) << client.error().message();

  auto early = client->read_line(100, 50ms);
  ASSERT_FALSE(early);
  EXPECT_EQ(early.error(), std::errc::timed_out);
  ASSERT_FALSE(client->write_all("GO\n", 5s));
  EXPECT_EQ(client->read_line(100, 5s).value_or("error"), "partial");
}

TEST_P(BlockingClientTest, ServerClosingMidReadGivesEndOfStream) {
  auto peer = start_python("c.sendall(b'0123456789'); c.close()\n");
  if (!peer) GTEST_SKIP() << "python3 is not available";
  auto client = BlockingClient::connect("127.0.0.1", peer->second, 5s, options());
  ASSERT_TRUE(client) << client.error().message();
  std::string buf(20, '\0');
  auto n = client->read_exactly(as_writable_bytes(buf), 5s);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), Errc::end_of_stream);
  EXPECT_EQ(client->read_some(as_writable_bytes(buf), 5s).value_or(99), 0u) << "then end of stream: 0";
}

TEST_P(BlockingClientTest, ServerClosingMidLineGivesEndOfStream) {
  auto peer = start_python("c.sendall(b'no newline'); c.shutdown(socket.SHUT_WR); c.recv(1); c.close()\n");
  if (!peer) GTEST_SKIP() << "python3 is not available";
  auto client = BlockingClient::connect("127.0.0.1", peer->second, 5s, options());
  ASSERT_TRUE(client) << client.error().message();
  auto line = client->read_line(100, 5s);
  ASSERT_FALSE(line);
  EXPECT_EQ(line.error(), Errc::end_of_stream);
}

TEST_P(BlockingClientTest, WriteAllTimesOutWhenTheServerStopsReading) {
  auto peer = start_python("f = c.makefile('rb'); f.readline(); time.sleep(30)\n");
  if (!peer) GTEST_SKIP() << "python3 is not available";
  auto client = BlockingClient::connect("127.0.0.1", peer->second, 5s, options());
  ASSERT_TRUE(client) << client.error().message();
  ASSERT_FALSE(client->write_all("start\n", 5s));
  // Far more than loopback socket buffers hold: the send must block on a server that reads nothing.
  std::vector<std::byte> flood(64u << 20, std::byte{'x'});
  EXPECT_EQ(client->write_all(flood, 200ms), std::errc::timed_out);
}

TEST_P(BlockingClientTest, ConnectToAClosedPortIsRefused) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  Address any = Address::loopback_v4(0);
  ASSERT_EQ(::bind(fd, any.native(), any.native_length()), 0);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  auto where = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), length).value();
  // Bound but not listening: nobody accepts on this port while fd holds it.
  auto client = BlockingClient::connect(where, 5s, options());
  ::close(fd);
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), std::errc::connection_refused);
}

TEST_P(BlockingClientTest, ConnectTimesOutOnAFullBacklog) {
  // A listener that never accepts, with its backlog filled: Linux drops further SYNs, so a connect hangs.
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  Address any = Address::loopback_v4(0);
  ASSERT_EQ(::bind(listener, any.native(), any.native_length()), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &length);
  auto where = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&bound), length).value();
  std::vector<int> fillers;
  for (int i = 0; i < 4; ++i) {
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(f, where.native(), where.native_length());
    fillers.push_back(f);
  }
  auto client = BlockingClient::connect(where, 100ms, options());
  for (int f : fillers) ::close(f);
  ::close(listener);
  if (client) GTEST_SKIP() << "this kernel accepted a connection past a full backlog; cannot provoke a connect timeout";
  EXPECT_EQ(client.error(), std::errc::timed_out) << client.error().message();
}

TEST_P(BlockingClientTest, ConnectsByHostName) {
  auto socat = start_socat_echo();
  if (!socat) GTEST_SKIP() << "socat is not available";
  auto client = BlockingClient::connect("echo-peer.test", socat->second, 5s, by_name_options());
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_EQ(client->remote_address()->ip_string(), "127.0.0.1");
  ASSERT_FALSE(client->write_all("by name\n", 5s));
  EXPECT_EQ(client->read_line(100, 5s).value_or("error"), "by name");
}

TEST_P(BlockingClientTest, UnknownHostNameFailsWithinTheTimeout) {
  // Not in the hosts file, and the name server never answers: the lookup cannot finish.
  auto client = BlockingClient::connect("nowhere.test", 9, 300ms, by_name_options());
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error(), std::errc::timed_out) << client.error().message();
}

TEST_P(BlockingClientTest, CallsAfterCloseFailWithNotConnected) {
  auto socat = start_socat_echo();
  if (!socat) GTEST_SKIP() << "socat is not available";
  auto client = BlockingClient::connect("127.0.0.1", socat->second, 5s, options());
  ASSERT_TRUE(client) << client.error().message();
  client->close();
  EXPECT_FALSE(client->is_open());
  EXPECT_EQ(client->write_all("x", 1s), std::errc::not_connected);
  EXPECT_EQ(client->read_line(10, 1s).error(), std::errc::not_connected);
}

RFARM_INSTANTIATE_BACKEND_TESTS(BlockingClientTest);

}  // namespace
}  // namespace rfarm::test

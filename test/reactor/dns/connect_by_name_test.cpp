// connect_by_name: Happy Eyeballs (RFC 8305) against real listeners. A "dead" address is a listener on
// 127.0.0.2 whose accept queue is already full: Linux drops further SYNs, so connecting there hangs like a
// host that went away, rather than being refused.
#include "reactor/dns/connect_by_name.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "reactor/net/stream_listener.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/dns_server.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

Address ip(std::string_view text, std::uint16_t port = 0) { return Address::from_ip(text, port).value(); }

// See the file comment. Holds the listening socket and the one connection that fills its queue.
class BlackholeListener {
 public:
  static std::optional<BlackholeListener> open(std::uint16_t port) {
    BlackholeListener hole;
    Address at = ip("127.0.0.2", port);
    hole.listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::bind(hole.listen_fd_, at.native(), at.native_length()) != 0 || ::listen(hole.listen_fd_, 0) != 0)
      return std::nullopt;
    hole.filler_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // blocking: loopback answers at once
    if (::connect(hole.filler_fd_, at.native(), at.native_length()) != 0) return std::nullopt;
    return hole;
  }
  BlackholeListener(BlackholeListener&& o) noexcept
      : listen_fd_(std::exchange(o.listen_fd_, -1)), filler_fd_(std::exchange(o.filler_fd_, -1)) {}
  ~BlackholeListener() {
    if (filler_fd_ >= 0) ::close(filler_fd_);
    if (listen_fd_ >= 0) ::close(listen_fd_);
  }

 private:
  BlackholeListener() = default;
  int listen_fd_ = -1;
  int filler_fd_ = -1;
};

class ConnectByNameTest : public BackendTest {
 protected:
  void TearDown() override {
    for (const std::string& path : files_) ::unlink(path.c_str());
    BackendTest::TearDown();
  }

  // Names come from a hosts file the test writes; DNS is a loopback socket that never answers, so nothing
  // leaves the machine. dns, when given, is a real server instead.
  std::unique_ptr<Resolver> make_resolver(std::string_view hosts, std::optional<Address> dns = std::nullopt) {
    char path[] = "/tmp/rfarm-hosts-XXXXXX";
    int fd = ::mkstemp(path);
    ::close(fd);
    std::ofstream(path) << hosts;
    files_.emplace_back(path);
    ResolverOptions options;
    options.hosts_file = path;
    options.search_domains = std::vector<std::string>{};
    options.servers = {dns ? *dns : silent_.address()};
    options.attempt_timeout = 200ms;
    options.tries = 1;
    auto resolver = Resolver::create(reactor(), options);
    EXPECT_TRUE(resolver) << resolver.error().message();
    return resolver ? std::move(*resolver) : nullptr;
  }

  // A listener on 127.0.0.1 and a blackhole on 127.0.0.2 at the same port.
  bool listen_beside_blackhole(std::optional<StreamListener>& live, std::optional<BlackholeListener>& dead) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto listener = StreamListener::listen(reactor(), ip("127.0.0.1", 0));
      if (!listener) return false;
      auto hole = BlackholeListener::open(listener->local_address().value().port());
      if (!hole) continue;  // that port is taken on 127.0.0.2: another one
      live.emplace(std::move(*listener));
      dead.emplace(std::move(*hole));
      return true;
    }
    return false;
  }

  Task<Result<StreamSocket>> connect(Resolver& resolver, std::string host, std::uint16_t port,
                                     ConnectByNameOptions options = {}) {
    co_return co_await connect_by_name(reactor(), resolver, host, port, options);
  }

  SilentUdpServer silent_;
  std::vector<std::string> files_;
};

TEST(InterleaveFamiliesTest, AlternatesFamiliesStartingWithTheFirst) {
  std::vector<Address> sorted = {ip("::1"), ip("::2"), ip("::3"), ip("127.0.0.1"), ip("127.0.0.2")};
  EXPECT_EQ(interleave_families(sorted),
            (std::vector<Address>{ip("::1"), ip("127.0.0.1"), ip("::2"), ip("127.0.0.2"), ip("::3")}));
  std::vector<Address> v4_first = {ip("127.0.0.1"), ip("::1")};
  EXPECT_EQ(interleave_families(v4_first), v4_first);
  EXPECT_TRUE(interleave_families({}).empty());
}

TEST_P(ConnectByNameTest, ConnectsToTheListenerTheNameResolvesTo) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  std::uint16_t port = listener->local_address().value().port();
  auto resolver = make_resolver("127.0.0.1 service.test\n");
  auto sock = run(connect(*resolver, "service.test", port));
  ASSERT_TRUE(sock) << sock.error().message();
  EXPECT_EQ(sock->remote_address().value(), ip("127.0.0.1", port));
  auto accepted = run([](StreamListener& l) -> Task<Result<StreamSocket>> { co_return co_await l.accept(); }(*listener));
  EXPECT_TRUE(accepted) << accepted.error().message();
}

TEST_P(ConnectByNameTest, DeadFirstAddressDoesNotFailTheConnect) {
  std::optional<StreamListener> live;
  std::optional<BlackholeListener> dead;
  ASSERT_TRUE(listen_beside_blackhole(live, dead)) << "cannot set up listeners on 127.0.0.1 and 127.0.0.2";
  std::uint16_t port = live->local_address().value().port();
  auto resolver = make_resolver("127.0.0.2 eyeballs.test\n127.0.0.1 eyeballs.test\n");
  // The dead address is tried first; the next attempt starts after the delay while the first still hangs.
  auto sock = run(connect(*resolver, "eyeballs.test", port, {.attempt_delay = 50ms}));
  ASSERT_TRUE(sock) << sock.error().message();
  EXPECT_EQ(sock->remote_address().value(), ip("127.0.0.1", port));
}

TEST_P(ConnectByNameTest, RefusedIpv6AddressFallsBackToIpv4) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback (::1) in this environment";
  auto listener = listen_loopback(AddressFamily::ipv4);
  ASSERT_TRUE(listener);
  std::uint16_t port = listener->local_address().value().port();
  auto resolver = make_resolver("::1 mixed.test\n127.0.0.1 mixed.test\n");
  // A refusal starts the next attempt at once: the long delay never comes into play.
  auto sock = run(connect(*resolver, "mixed.test", port, {.attempt_delay = 10s}));
  ASSERT_TRUE(sock) << sock.error().message();
  EXPECT_EQ(sock->remote_address().value(), ip("127.0.0.1", port));
}

TEST_P(ConnectByNameTest, EveryAddressRefusingGivesConnectionRefused) {
  auto listener = listen_loopback();  // taken and closed: nothing listens on that port afterwards
  ASSERT_TRUE(listener);
  std::uint16_t port = listener->local_address().value().port();
  listener->close();
  auto resolver = make_resolver("127.0.0.1 refusing.test\n127.0.0.3 refusing.test\n");
  auto sock = run(connect(*resolver, "refusing.test", port, {.attempt_delay = 10s}));
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.error(), std::errc::connection_refused) << sock.error().message();
}

TEST_P(ConnectByNameTest, EveryAddressHangingEndsAtTheOverallTimeout) {
  std::optional<StreamListener> live;
  std::optional<BlackholeListener> dead;
  ASSERT_TRUE(listen_beside_blackhole(live, dead));
  std::uint16_t port = live->local_address().value().port();
  auto resolver = make_resolver("127.0.0.2 hanging.test\n");
  auto sock = run(connect(*resolver, "hanging.test", port, {.attempt_delay = 20ms, .timeout = 100ms}));
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.error(), std::errc::timed_out) << sock.error().message();
}

TEST_P(ConnectByNameTest, AttemptTimeoutFailsAHangingAttemptAndMovesOn) {
  std::optional<StreamListener> live;
  std::optional<BlackholeListener> dead;
  ASSERT_TRUE(listen_beside_blackhole(live, dead));
  std::uint16_t port = live->local_address().value().port();
  auto resolver = make_resolver("127.0.0.2 slow.test\n127.0.0.1 slow.test\n");
  // The delay is longer than the attempt's limit: the second attempt starts because the first timed out.
  auto sock = run(connect(*resolver, "slow.test", port, {.attempt_delay = 10s, .attempt_timeout = 50ms}));
  ASSERT_TRUE(sock) << sock.error().message();
  EXPECT_EQ(sock->remote_address().value(), ip("127.0.0.1", port));
}

TEST_P(ConnectByNameTest, DnsNameWithARefusingAddressStillConnects) {
  auto listener = StreamListener::listen(reactor(), ip("127.0.0.1", 0));
  ASSERT_TRUE(listener);
  std::uint16_t port = listener->local_address().value().port();
  auto dns = DnsServer::start({"--host-record=multi.test,127.0.0.1", "--host-record=multi.test,127.0.0.2"});
  if (!dns) GTEST_SKIP() << dns.error();
  auto resolver = make_resolver("", dns->address());  // nothing listens on 127.0.0.2: refused, whatever order
  auto sock = run(connect(*resolver, "multi.test", port, {.attempt_delay = 10s}));
  ASSERT_TRUE(sock) << sock.error().message();
  EXPECT_EQ(sock->remote_address().value(), ip("127.0.0.1", port));
}

TEST_P(ConnectByNameTest, UnknownNameFailsWithTheLookupError) {
  auto dns = DnsServer::start({});
  if (!dns) GTEST_SKIP() << dns.error();
  auto resolver = make_resolver("", dns->address());
  auto sock = run(connect(*resolver, "missing.test", 80));
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.error(), Errc::host_not_found) << sock.error().message();
}

TEST_P(ConnectByNameTest, CallbackFormConnects) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  std::uint16_t port = listener->local_address().value().port();
  auto resolver = make_resolver("127.0.0.1 callback.test\n");
  std::optional<Result<StreamSocket>> got;
  async_connect_by_name(reactor(), *resolver, "callback.test", port, {},
                        [&](Result<StreamSocket> s) { got = std::move(s); });
  EXPECT_FALSE(got) << "the handler ran inside async_connect_by_name";
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_TRUE(*got) << got->error().message();
  EXPECT_EQ((*got)->remote_address().value(), ip("127.0.0.1", port));
}

TEST_P(ConnectByNameTest, NoAddressesToTryIsNoAddress) {
  auto sock = run(connect_any(reactor(), {}));
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.error(), Errc::no_address);
}

RFARM_INSTANTIATE_BACKEND_TESTS(ConnectByNameTest);

}  // namespace
}  // namespace rfarm::test

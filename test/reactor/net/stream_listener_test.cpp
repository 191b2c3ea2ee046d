// StreamListener: accepting over TCP and Unix-domain sockets, listen options, cancellation, and accepting
// through descriptor exhaustion (EMFILE) without spinning the loop.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::test {
namespace {

// Echoes until the peer half-closes. Owns its connection (spawned).
Task<void> echo_until_end(StreamSocket conn) {
  std::array<std::byte, 4096> buffer;
  for (;;) {
    auto n = co_await conn.recv(buffer);
    if (!n || *n == 0) break;
    if (!co_await conn.send_all(ConstBytes(buffer.data(), *n))) break;
  }
}

// Accepts until the listener closes, echoing on every connection; counts what it accepted.
Task<void> accept_and_echo(Reactor& reactor, StreamListener& listener, int& accepted, std::error_code& last_error) {
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) {
      last_error = conn.error();
      co_return;
    }
    ++accepted;
    reactor.spawn(echo_until_end(std::move(*conn)));
  }
}

// Sends message and reads the same number of bytes back.
Task<Result<std::string>> exchange(StreamSocket& sock, std::string message) {
  auto sent = co_await sock.send_all(as_bytes(message));
  if (!sent) co_return fail(sent.error());
  std::string reply(message.size(), '\0');
  auto got = co_await sock.recv_exactly(as_writable_bytes(reply));
  if (!got) co_return fail(got.error());
  co_return reply;
}

// Makes accept() run out of descriptors: lowers this process's RLIMIT_NOFILE just above the descriptors in
// use and occupies every free one below it. release() (or destruction) gives everything back.
class DescriptorExhaustion {
 public:
  DescriptorExhaustion() {
    ::getrlimit(RLIMIT_NOFILE, &saved_);
    int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (lowest_free < 0) return;
    ::close(lowest_free);
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(lowest_free) + 8;
    if (::setrlimit(RLIMIT_NOFILE, &lowered) != 0) return;
    lowered_ = true;
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        exhausted_ = errno == EMFILE;
        break;
      }
      fillers_.push_back(fd);
    }
  }
  DescriptorExhaustion(const DescriptorExhaustion&) = delete;
  DescriptorExhaustion& operator=(const DescriptorExhaustion&) = delete;
  ~DescriptorExhaustion() { release(); }

  bool exhausted() const { return exhausted_; }
  void release() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
    if (lowered_) ::setrlimit(RLIMIT_NOFILE, &saved_);
    lowered_ = false;
  }

 private:
  rlimit saved_{};
  bool lowered_ = false;
  bool exhausted_ = false;
  std::vector<int> fillers_;
};

std::string unique_abstract_name() {
  static std::atomic<int> counter{0};
  return "rfarm-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

using ::testing::HasSubstr;

class StreamListenerTest : public BackendTest {
 protected:
  // Connects to where, accepts, and checks bytes flow both ways over the pair.
  void accept_and_exchange(const Address& where, StreamListener& listener) {
    auto pair = run(connect_and_accept(listener));
    ASSERT_TRUE(pair) << where.to_string() << ": " << pair.error().message();
    auto& [client, server] = *pair;
    reactor().spawn(echo_until_end(std::move(server)));
    auto reply = run(exchange(client, "over " + where.to_string()));
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(*reply, "over " + where.to_string());
  }
};

TEST_P(StreamListenerTest, AcceptsManyQueuedConnections) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  Address where = listener->local_address().value();
  std::vector<StreamSocket> clients;
  for (int i = 0; i < 50; ++i) {
    auto c = run(StreamSocket::connect(reactor(), where, 2s));
    ASSERT_TRUE(c) << c.error().message();
    clients.push_back(std::move(*c));
  }
  int accepted = 0;
  std::error_code last_error;
  reactor().spawn(accept_and_echo(reactor(), *listener, accepted, last_error));
  ASSERT_TRUE(run_until([&] { return accepted == 50; }));
  EXPECT_FALSE(last_error) << last_error.message();
}

TEST_P(StreamListenerTest, AsyncAcceptDeliversAConnection) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  Address where = listener->local_address().value();
  std::optional<Result<StreamSocket>> accepted;
  listener->async_accept([&](Result<StreamSocket> s) { accepted = std::move(s); });
  auto client = run(StreamSocket::connect(reactor(), where, 2s));
  ASSERT_TRUE(client);
  ASSERT_TRUE(run_until([&] { return accepted.has_value(); }));
  ASSERT_TRUE(*accepted) << accepted->error().message();
  EXPECT_EQ((*accepted)->remote_address().value(), client->local_address().value());
}

TEST_P(StreamListenerTest, ClosingTheListenerCancelsAPendingAccept) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  int accepted = 0;
  std::error_code last_error;
  reactor().spawn(accept_and_echo(reactor(), *listener, accepted, last_error));
  run_for(5ms);
  listener->close();
  ASSERT_TRUE(run_until([&] { return static_cast<bool>(last_error); }));
  EXPECT_EQ(last_error, std::errc::operation_canceled) << last_error.message();
  EXPECT_EQ(accepted, 0);
}

TEST_P(StreamListenerTest, ListeningOnAPortInUseFails) {
  auto first = listen_loopback();
  ASSERT_TRUE(first);
  auto second = StreamListener::listen(reactor(), first->local_address().value());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

TEST_P(StreamListenerTest, ReusePortLetsTwoListenersShareAPort) {
  ListenOptions options;
  options.bind.reuse_port = true;
  auto first = listen_loopback(AddressFamily::ipv4, options);
  ASSERT_TRUE(first);
  auto second = StreamListener::listen(reactor(), first->local_address().value(), options);
  ASSERT_TRUE(second) << second.error().message();
}

TEST_P(StreamListenerTest, DualStackListenerAcceptsIpv4Clients) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "IPv6 unavailable here: cannot bind [::1]:0";
  ListenOptions options;
  options.bind.v6_only = false;
  auto listener = StreamListener::listen(reactor(), Address::any_v6(0), options);
  ASSERT_TRUE(listener) << listener.error().message();
  Address v4 = Address::loopback_v4(listener->local_address()->port());
  accept_and_exchange(v4, *listener);
}

TEST_P(StreamListenerTest, V6OnlyListenerRefusesIpv4Clients) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "IPv6 unavailable here: cannot bind [::1]:0";
  ListenOptions options;
  options.bind.v6_only = true;
  // The guard holds 127.0.0.1 on the listener's port, so that no other process listening there can answer
  // for us. A port someone else already holds on IPv4 is simply tried again with a new listener.
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto listener = StreamListener::listen(reactor(), Address::any_v6(0), options);
    ASSERT_TRUE(listener) << listener.error().message();
    ASSERT_TRUE(listener->get<option::V6Only>().value().enabled());
    Address v4 = Address::loopback_v4(listener->local_address()->port());
    int guard = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::bind(guard, v4.native(), v4.native_length()) != 0) {
      ::close(guard);
      continue;
    }
    auto client = run(StreamSocket::connect(reactor(), v4, 2s));
    ::close(guard);
    ASSERT_FALSE(client) << "an IPv4 client reached an IPv6-only listener";
    EXPECT_EQ(client.error(), std::errc::connection_refused);
    return;
  }
  FAIL() << "five ephemeral ports in a row were taken on 127.0.0.1 by other processes";
}

TEST_P(StreamListenerTest, UnixPathListenerAcceptsConnections) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  Address where = Address::unix_path(dir.file("echo.sock")).value();
  auto listener = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(listener) << listener.error().message();
  EXPECT_EQ(listener->local_address().value(), where);
  accept_and_exchange(where, *listener);
}

TEST_P(StreamListenerTest, UnixAbstractListenerAcceptsConnections) {
  Address where = Address::unix_abstract(unique_abstract_name()).value();
  auto listener = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(listener) << listener.error().message();
  EXPECT_EQ(listener->local_address().value(), where);
  accept_and_exchange(where, *listener);
}

TEST_P(StreamListenerTest, UnixModeSetsTheSocketFileMode) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("private.sock");
  ListenOptions options;
  options.bind.unix_mode = 0600;
  mode_t old_umask = ::umask(0);  // without unix_mode the file would be 0777 now
  auto listener = StreamListener::listen(reactor(), Address::unix_path(path).value(), options);
  ::umask(old_umask);
  ASSERT_TRUE(listener) << listener.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);
}

TEST_P(StreamListenerTest, StaleUnixSocketFileIsReplaced) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  Address where = Address::unix_path(dir.file("stale.sock")).value();
  {
    auto first = StreamListener::listen(reactor(), where);
    ASSERT_TRUE(first);
    first->keep_socket_file();
  }  // closed; its socket file stays behind, as a killed server's does
  auto second = StreamListener::listen(reactor(), where);
  ASSERT_TRUE(second) << second.error().message();
  accept_and_exchange(where, *second);
}

TEST_P(StreamListenerTest, FailIfExistsRefusesEvenAStaleSocketFile) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  Address where = Address::unix_path(dir.file("kept.sock")).value();
  {
    auto first = StreamListener::listen(reactor(), where);
    ASSERT_TRUE(first);
    first->keep_socket_file();
  }
  ListenOptions options;
  options.bind.unix_path = UnixPathPolicy::fail_if_exists;
  auto second = StreamListener::listen(reactor(), where, options);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
}

TEST_P(StreamListenerTest, AcceptSurvivesRunningOutOfDescriptors) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  Address where = listener->local_address().value();
  constexpr int kClients = 3;
  std::vector<StreamSocket> clients;
  for (int i = 0; i < kClients; ++i) {  // connected (waiting in the accept queue) before descriptors run out
    auto c = run(StreamSocket::connect(reactor(), where, 2s));
    ASSERT_TRUE(c) << c.error().message();
    clients.push_back(std::move(*c));
  }

  DescriptorExhaustion exhaustion;
  ASSERT_TRUE(exhaustion.exhausted()) << "could not exhaust the descriptor table";
  int accepted = 0;
  std::error_code last_error;
  reactor().spawn(accept_and_echo(reactor(), *listener, accepted, last_error));
  Reactor::Stats before = reactor().stats();
  run_for(200ms);
  Reactor::Stats after = reactor().stats();
  EXPECT_EQ(accepted, 0) << "accepted without a free descriptor?";
  EXPECT_FALSE(last_error) << "EMFILE must not fail the accept: " << last_error.message();
  EXPECT_GT(listener->backoff_episodes(), 0u);
  // Backing off (10 ms, doubling) takes a handful of turns in 200 ms; retrying at once would take thousands.
  EXPECT_LT(after.turns - before.turns, 1000u) << "the loop spins while accept hits EMFILE";

  exhaustion.release();
  ASSERT_TRUE(run_until([&] { return accepted == kClients; }, 5s)) << "accepted " << accepted;
  for (int i = 0; i < kClients; ++i) {
    std::string message = "client " + std::to_string(i);
    auto reply = run(exchange(clients[static_cast<std::size_t>(i)], message));
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(*reply, message);
  }
  int warnings = 0;
  for (const std::string& line : log_lines())
    if (line.find("backing off") != std::string::npos) ++warnings;
  EXPECT_EQ(warnings, 1) << "one warning per back-off episode";
  EXPECT_EQ(listener->backoff_episodes(), 1u);
}

TEST_P(StreamListenerTest, ClosingTheListenerWhileBackingOffCancelsTheAccept) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  auto client = run(StreamSocket::connect(reactor(), listener->local_address().value(), 2s));
  ASSERT_TRUE(client);
  DescriptorExhaustion exhaustion;
  ASSERT_TRUE(exhaustion.exhausted());
  int accepted = 0;
  std::error_code last_error;
  reactor().spawn(accept_and_echo(reactor(), *listener, accepted, last_error));
  run_for(30ms);
  ASSERT_GT(listener->backoff_episodes(), 0u);
  listener->close();
  exhaustion.release();
  ASSERT_TRUE(run_until([&] { return static_cast<bool>(last_error); }));
  EXPECT_EQ(last_error, std::errc::operation_canceled) << last_error.message();
  EXPECT_EQ(accepted, 0);
}

TEST_P(StreamListenerTest, AsyncAcceptSurvivesRunningOutOfDescriptors) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  auto client = run(StreamSocket::connect(reactor(), listener->local_address().value(), 2s));
  ASSERT_TRUE(client);
  std::optional<Result<StreamSocket>> accepted;
  DescriptorExhaustion exhaustion;
  ASSERT_TRUE(exhaustion.exhausted());
  listener->async_accept([&](Result<StreamSocket> s) { accepted = std::move(s); });
  run_for(50ms);
  EXPECT_FALSE(accepted.has_value());
  EXPECT_GT(listener->backoff_episodes(), 0u);
  exhaustion.release();
  ASSERT_TRUE(run_until([&] { return accepted.has_value(); }));
  ASSERT_TRUE(*accepted) << accepted->error().message();
}

RFARM_INSTANTIATE_BACKEND_TESTS(StreamListenerTest);

}  // namespace
}  // namespace rfarm::test

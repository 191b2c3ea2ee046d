// StreamSocket::try_send (Backend::try_send): a send without an operation and without waiting, on both
// backends, over real loopback TCP connections. Both send directly by default; QueuedSendTest runs with
// RFARM_URING_TUNE=no-direct-send, where io_uring declines (its sends are then batched SEND SQEs).
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

std::string pattern(std::size_t n, std::size_t offset = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (offset + i) % 23);
  return s;
}

class TrySendTest : public BackendTest {
 protected:
  // Whether this reactor sends directly: epoll always, io_uring unless tuned not to (QueuedSendTest).
  virtual bool sends_directly() const { return true; }

  // Everything the client can read while the reactor runs, until n bytes came.
  std::string read_back(int fd, std::size_t n) {
    std::string got;
    char chunk[8192];
    EXPECT_TRUE(run_until([&] {
      ssize_t r;
      while (got.size() < n && (r = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT)) > 0) got.append(chunk, r);
      return got.size() >= n;
    }));
    return got;
  }

  void check_takes_bytes_now_or_declines(StreamSocket& client, StreamSocket& server) {
    auto n = server.try_send(as_bytes("hello"));
    if (!sends_directly()) {
      ASSERT_FALSE(n) << "io_uring sent directly with the no-direct-send tuning";
      EXPECT_EQ(n.error(), std::errc::resource_unavailable_try_again);
      return;
    }
    ASSERT_TRUE(n) << n.error().message();
    EXPECT_EQ(*n, 5u);
    EXPECT_EQ(read_back(client.native_handle(), 5), "hello");
  }
};

// RFARM_URING_TUNE is read when a ring is set up: set for this suite's reactors only, and put back as it was
// (a run may set it for every suite).
class QueuedSendTest : public TrySendTest {
 protected:
  void adjust_options(ReactorOptions&) override {
    if (const char* was = std::getenv("RFARM_URING_TUNE")) saved_ = was;
    ::setenv("RFARM_URING_TUNE", "no-direct-send", 1);
  }
  void TearDown() override {
    if (saved_) {
      ::setenv("RFARM_URING_TUNE", saved_->c_str(), 1);
    } else {
      ::unsetenv("RFARM_URING_TUNE");
    }
    TrySendTest::TearDown();
  }
  std::optional<std::string> saved_;
  bool sends_directly() const override { return GetParam() == BackendKind::epoll; }
};

TEST_P(QueuedSendTest, TakesTheBytesAtOnceOrDeclinesWithTryAgain) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  check_takes_bytes_now_or_declines(client, server);
}

TEST_P(TrySendTest, TakesTheBytesAtOnce) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  check_takes_bytes_now_or_declines(client, server);
}

TEST_P(TrySendTest, AnEmptySendTakesNothingAndAClosedSocketSaysBadDescriptor) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  auto none = server.try_send(ConstBytes{});
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
  server.close();
  auto closed = server.try_send(as_bytes("x"));
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error(), std::errc::bad_file_descriptor);
  StreamSocket never_opened;
  EXPECT_EQ(never_opened.try_send(as_bytes("x")).error(), std::errc::bad_file_descriptor);
}

// A full socket takes part of a send, then nothing until the peer reads and the reactor sees the socket
// writable again; every byte arrives once and in order.
TEST_P(TrySendTest, AFullSocketTakesPartThenNothingUntilItDrains) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  ASSERT_FALSE(server.set(option::SendBufferSize(4096)));
  const std::string chunk = pattern(64 * 1024);
  std::size_t taken = 0;
  std::optional<std::error_code> stopped;
  for (int i = 0; i < 64 && !stopped; ++i) {
    auto n = server.try_send(as_bytes(std::string_view(chunk).substr(taken % chunk.size())));
    if (n) {
      taken += *n;
    } else {
      stopped = n.error();
    }
  }
  ASSERT_TRUE(stopped) << "64 sends of 64 KiB into a 4 KiB socket buffer never filled it";
  EXPECT_EQ(*stopped, std::errc::resource_unavailable_try_again);
  ASSERT_GT(taken, 0u);
  EXPECT_LT(taken, 64u * chunk.size());
  SCOPED_TRACE("bytes taken before the socket was full: " + std::to_string(taken));
  EXPECT_FALSE(server.try_send(as_bytes("z"))) << "a full socket took more at once";
  // The peer reads everything; the reactor then sees the socket writable and sends directly again.
  std::string got = read_back(client.native_handle(), taken);
  ASSERT_EQ(got.size(), taken);
  std::string expected;
  while (expected.size() < taken) expected += chunk;
  expected.resize(taken);
  EXPECT_TRUE(got == expected) << "bytes were lost, repeated or reordered";
  std::optional<std::size_t> again;
  ASSERT_TRUE(run_until([&] {
    if (!again) {
      if (auto n = server.try_send(as_bytes("!"))) again = *n;
    }
    return again.has_value();
  })) << "the socket drained, but direct sends never resumed";
  EXPECT_EQ(*again, 1u);
  EXPECT_EQ(read_back(client.native_handle(), 1), "!");
}

// While a send operation waits for room, a direct send would overtake its remaining bytes: it is declined.
TEST_P(TrySendTest, NeverOvertakesASendThatIsWaiting) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  ASSERT_FALSE(server.set(option::SendBufferSize(4096)));
  const std::string big = pattern(1 << 20);  // more than the server's 4 KiB and the client's default buffer
  std::optional<Result<std::size_t>> sent;
  server.async_send_all(as_bytes(big), [&](Result<std::size_t> r) { sent = r; });
  run_for(std::chrono::milliseconds(5));
  ASSERT_FALSE(sent) << "1 MiB went into a 4 KiB socket buffer at once";
  auto n = server.try_send(as_bytes("LATE"));
  ASSERT_FALSE(n) << "a direct send overtook a waiting send";
  EXPECT_EQ(n.error(), std::errc::resource_unavailable_try_again);
  std::string got = read_back(client.native_handle(), big.size());
  ASSERT_TRUE(run_until([&] { return sent.has_value(); }));
  ASSERT_TRUE(*sent) << sent->error().message();
  EXPECT_EQ(**sent, big.size());
  EXPECT_TRUE(got == big) << "the waiting send's bytes came back altered or out of order";
  char extra;
  EXPECT_EQ(::recv(client.native_handle(), &extra, 1, MSG_DONTWAIT), -1) << "bytes beyond the waiting send arrived";
}

RFARM_INSTANTIATE_BACKEND_TESTS(TrySendTest);
RFARM_INSTANTIATE_BACKEND_TESTS(QueuedSendTest);

}  // namespace
}  // namespace rfarm::test

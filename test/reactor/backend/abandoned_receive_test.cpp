// A receive given up on a timeout keeps the bytes that arrive as it is given up: the next receive gets them, in
// order, and the abandoned receive's buffer is never written after the caller took it back (issue 15, "known
// corners"). Each round hits the instant a timeout and an arrival meet: the timeout's own callback has the peer
// send, closes another connection (as a timeout that ends one connection and gives up on another's receive
// does), and then abandons the receive. On io_uring a receive into the caller's buffer used to be a RECV request
// into that buffer: the close flushes the ring's deferred work, which completes the RECV, and the abandoned
// request then dropped the CQE that carried the bytes.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reactor/net/stream_socket.hpp"
#include "reactor/stream/buffered_stream.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm {
namespace {

using namespace std::chrono_literals;
using AbandonedReceiveTest = test::BackendTest;

constexpr int kRounds = 200;
constexpr std::byte kCanary{0xA5};

// Distinct bytes and a different length each round: a byte lost, repeated or reordered shows.
std::vector<std::byte> payload_for(int round) {
  std::vector<std::byte> bytes(1 + static_cast<std::size_t>(round * 37) % 3000);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((round * 131 + i * 7) & 0xff);
  return bytes;
}

// A blocking send from the peer's descriptor (outside the reactor: the bytes are in our socket on return).
void send_from_peer(int fd, ConstBytes data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      pollfd p{fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    ASSERT_GT(n, 0) << "peer send: " << std::strerror(errno);
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

// Another connection, with a receive pending (on io_uring the kernel then holds its socket, so closing it
// flushes the ring's deferred work at once, as any close of such a connection does).
class Bystander {
 public:
  explicit Bystander(Reactor& reactor) : pair_(StreamSocket::pair(reactor)) {
    EXPECT_TRUE(pair_) << pair_.error().message();
    if (pair_) pair_->first.async_recv(buffer_, [](Result<std::size_t>) {});
  }
  void close() {
    if (pair_) pair_->first.close();
  }

 private:
  Result<std::pair<StreamSocket, StreamSocket>> pair_;
  std::array<std::byte, 16> buffer_{};
};

Task<Result<std::size_t>> receive_into(StreamSocket& socket, MutableBytes buffer) {
  co_return co_await socket.recv(buffer);
}

TEST_P(AbandonedReceiveTest, BytesArrivingAsTheTimeoutAbandonsAReceiveGoToTheNextReceiveInOrder) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [ours, peer] = *pair;
  std::vector<std::byte> abandoned(64 * 1024);
  std::vector<std::byte> next(64 * 1024);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    std::fill(abandoned.begin(), abandoned.end(), kCanary);
    const std::vector<std::byte> payload = payload_for(round);
    bool received = false;
    std::optional<Task<void>> reader;
    reader.emplace([](StreamSocket& s, MutableBytes buffer, bool& done) -> Task<void> {
      (void)co_await s.recv(buffer);
      done = true;
    }(ours, abandoned, received));
    reader->handle().resume();
    Bystander other(reactor());
    reactor().run_once(Duration(0));  // io_uring: the receive reaches the kernel
    Timer timeout(reactor());
    bool timed_out = false;
    timeout.start(1ms, [&] {
      send_from_peer(peer.native_handle(), payload);
      other.close();
      reader.reset();  // the timeout gives the receive up: its coroutine frame, and the operation, go
      timed_out = true;
    });
    ASSERT_TRUE(run_until([&] { return timed_out; }));
    ASSERT_FALSE(received) << "the receive completed although nothing was sent before the timeout";
    std::vector<std::byte> got;
    while (got.size() < payload.size()) {
      auto n = run(receive_into(ours, next), 500ms);
      ASSERT_TRUE(n) << n.error().message();
      ASSERT_GT(*n, 0u) << "end of stream";
      got.insert(got.end(), next.begin(), next.begin() + static_cast<std::ptrdiff_t>(*n));
    }
    ASSERT_EQ(got, payload) << "the next receive did not get the bytes in order";
    ASSERT_TRUE(std::all_of(abandoned.begin(), abandoned.end(), [](std::byte b) { return b == kCanary; }))
        << "the abandoned receive's buffer was written after it was given up";
  }
}

// The same through a BufferedStream, the way BlockingClient::read_line times out: part of a line is buffered,
// the read waits for the rest with a receive into the stream's own buffer, and the rest arrives as the
// timeout abandons that read. The next read_line returns the whole line.
TEST_P(AbandonedReceiveTest, ALineCompletedAsTheTimeoutAbandonsReadLineIsWholeInTheNextReadLine) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  BufferedStream<StreamSocket> stream(std::move(pair->first));
  StreamSocket& peer = pair->second;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    const std::string line = "line " + std::to_string(round) + " " + std::string(static_cast<std::size_t>(round % 50), 'x');
    const std::size_t split = 1 + static_cast<std::size_t>(round) % (line.size() - 1);
    send_from_peer(peer.native_handle(), as_bytes(std::string_view(line).substr(0, split)));
    bool answered = false;
    std::optional<Task<void>> reader;
    reader.emplace([](BufferedStream<StreamSocket>& s, bool& done) -> Task<void> {
      (void)co_await s.read_line(4096);
      done = true;
    }(stream, answered));
    reader->handle().resume();
    // The first part is buffered; the read now waits for the rest with a receive into the buffer.
    ASSERT_TRUE(run_until([&] { return stream.buffered().size() == split; }));
    Bystander other(reactor());
    reactor().run_once(Duration(0));
    Timer timeout(reactor());
    bool timed_out = false;
    timeout.start(1ms, [&] {
      send_from_peer(peer.native_handle(), as_bytes(std::string_view(line).substr(split)));
      send_from_peer(peer.native_handle(), as_bytes(std::string_view("\n")));
      other.close();
      reader.reset();
      timed_out = true;
    });
    ASSERT_TRUE(run_until([&] { return timed_out; }));
    ASSERT_FALSE(answered) << "read_line answered without its line feed";
    auto next = run([](BufferedStream<StreamSocket>& s) -> Task<Result<std::string>> {
      auto got = co_await s.read_line(4096);
      if (!got) co_return fail(got.error());
      co_return std::string(*got);
    }(stream), 500ms);
    ASSERT_TRUE(next) << next.error().message();
    ASSERT_EQ(*next, line);
  }
}

// The loop's order within a turn: completions the wait reaped run inside it, before the turn's expired timers,
// so a timeout never gives up a receive whose bytes the same turn brought. (What runs after the timers is only
// what the completion queue holds: cancellations, and callback operations that finished when started.)
TEST_P(AbandonedReceiveTest, AReceiveCompletedInTheTurnItsTimeoutExpiresIsReportedFirst) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [ours, peer] = *pair;
  std::array<std::byte, 64> buffer{};
  bool received = false;
  ours.async_recv(buffer, [&](Result<std::size_t> n) { received = n && *n > 0; });
  reactor().run_once(Duration(0));
  Timer timeout(reactor());
  std::optional<bool> received_before_timeout;
  timeout.start(1ms, [&] { received_before_timeout = received; });
  send_from_peer(peer.native_handle(), as_bytes(std::string_view("x")));
  std::this_thread::sleep_for(5ms);  // both are due now: the bytes and the timeout
  ASSERT_TRUE(run_until([&] { return received_before_timeout.has_value(); }));
  EXPECT_TRUE(received);
  EXPECT_TRUE(*received_before_timeout) << "the timeout ran before the completion the same turn reaped";
}

RFARM_INSTANTIATE_BACKEND_TESTS(AbandonedReceiveTest);

}  // namespace
}  // namespace rfarm

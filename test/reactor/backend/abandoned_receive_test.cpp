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
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reactor/net/fd_passing.hpp"
#include "reactor/net/seqpacket_socket.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/stream/buffered_stream.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm {
namespace {

using namespace std::chrono_literals;

// Every test below plays the same instant: a receive is pending in the kernel, and a timeout's callback has the
// peer's message arrive, closes another connection (as a timeout that ends one connection and gives up on
// another's receive does) and gives the receive up.
class AbandonedReceiveTest : public test::BackendTest {
 protected:
  // reader: a coroutine that receives once and sets *done; arrive: makes the peer's message arrive.
  template <class Arrive>
  void give_up_as_it_arrives(Task<void> reader_task, const bool& done, Arrive arrive);
};

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

template <class Arrive>
void AbandonedReceiveTest::give_up_as_it_arrives(Task<void> reader_task, const bool& done, Arrive arrive) {
  std::optional<Task<void>> reader(std::move(reader_task));
  reader->handle().resume();
  Bystander other(reactor());
  reactor().run_once(Duration(0));  // io_uring: the receive reaches the kernel
  Timer timeout(reactor());
  bool timed_out = false;
  timeout.start(1ms, [&] {
    arrive();
    other.close();
    reader.reset();  // the timeout gives the receive up: its coroutine frame, and the operation, go
    timed_out = true;
  });
  ASSERT_TRUE(run_until([&] { return timed_out; }));
  ASSERT_FALSE(done) << "the receive completed although nothing was sent before the timeout";
}

// A blocking sendmsg of bytes with one descriptor from the peer's descriptor.
void send_fd_from_peer(int fd, std::string_view bytes, int passed) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &passed, sizeof passed);
  ASSERT_EQ(::sendmsg(fd, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size())) << std::strerror(errno);
}

ino_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
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
    give_up_as_it_arrives([](StreamSocket& s, MutableBytes buffer, bool& done) -> Task<void> {
      (void)co_await s.recv(buffer);
      done = true;
    }(ours, abandoned, received), received, [&] { send_from_peer(peer.native_handle(), payload); });
    if (HasFatalFailure()) break;
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

// Descriptors travel with bytes: a receive carrying them that is given up as they come must leave both, the
// bytes and the descriptor, to the next receive (on io_uring such a receive used to be a RECVMSG into the
// caller's msghdr: the bytes and the descriptor went to a receive nobody waited for any more).
TEST_P(AbandonedReceiveTest, DescriptorsArrivingAsTheTimeoutAbandonsAReceiveGoToTheNextReceive) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [ours, peer] = *pair;
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const ino_t pipe_inode = inode_of(pipe_fds[0]);
  std::array<std::byte, 64> abandoned{};
  std::array<std::byte, 64> next{};
  for (int round = 0; round < kRounds / 4; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    abandoned.fill(kCanary);
    const std::string message = "fd " + std::to_string(round);
    bool received = false;
    give_up_as_it_arrives([](StreamSocket& s, MutableBytes buffer, bool& done) -> Task<void> {
      (void)co_await recv_with_fds(s, buffer);
      done = true;
    }(ours, abandoned, received), received, [&] { send_fd_from_peer(peer.native_handle(), message, pipe_fds[0]); });
    if (HasFatalFailure()) break;
    auto got = run([](StreamSocket& s, MutableBytes buffer) -> Task<Result<MessageWithFds>> {
      co_return co_await recv_with_fds(s, buffer);
    }(ours, next), 500ms);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_EQ(std::string_view(reinterpret_cast<const char*>(next.data()), got->size), message);
    ASSERT_EQ(got->fds.size(), 1u) << "the descriptor that came with the bytes is lost";
    EXPECT_EQ(inode_of(got->fds[0].get()), pipe_inode);
    ASSERT_TRUE(std::all_of(abandoned.begin(), abandoned.end(), [](std::byte b) { return b == kCanary; }))
        << "the abandoned receive's buffer was written after it was given up";
  }
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

// A seqpacket record is all or nothing: one that arrives as its receive is given up is the next receive's.
TEST_P(AbandonedReceiveTest, ARecordArrivingAsTheTimeoutAbandonsAReceiveIsTheNextReceivesRecord) {
  auto pair = SeqPacketSocket::pair(reactor());
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [ours, peer] = *pair;
  std::array<std::byte, 256> abandoned{};
  std::array<std::byte, 256> next{};
  for (int round = 0; round < kRounds / 4; ++round) {
    SCOPED_TRACE(::testing::Message() << "round " << round);
    abandoned.fill(kCanary);
    const std::string record = "record " + std::to_string(round) + std::string(static_cast<std::size_t>(round), '.');
    bool received = false;
    give_up_as_it_arrives([](SeqPacketSocket& s, MutableBytes buffer, bool& done) -> Task<void> {
      (void)co_await s.recv(buffer);
      done = true;
    }(ours, abandoned, received), received, [&] { send_from_peer(peer.native_handle(), as_bytes(std::string_view(record))); });
    if (HasFatalFailure()) break;
    auto got = run([](SeqPacketSocket& s, MutableBytes buffer) -> Task<Result<std::size_t>> {
      auto d = co_await s.recv(buffer);
      if (!d) co_return fail(d.error());
      co_return d->size;
    }(ours, next), 500ms);
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_EQ(std::string_view(reinterpret_cast<const char*>(next.data()), *got), record);
    ASSERT_TRUE(std::all_of(abandoned.begin(), abandoned.end(), [](std::byte b) { return b == kCanary; }))
        << "the abandoned receive's buffer was written after it was given up";
  }
}

RFARM_INSTANTIATE_BACKEND_TESTS(AbandonedReceiveTest);

}  // namespace
}  // namespace rfarm

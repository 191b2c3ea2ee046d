// Caller-owned callback operations (OwnedOperation and PooledExchange, reactor/backend/detail/operation.hpp;
// StreamSocket's RecvPooledOperation, SendPooledOperation and PooledExchangeOperation) on both backends, over
// real loopback TCP connections.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

class OwnedOperationTest : public BackendTest {
 protected:
  // Reads n bytes from a client descriptor while the reactor runs (the server side may send them in pieces).
  std::string read_back(int fd, std::size_t n) {
    std::string got;
    char chunk[4096];
    EXPECT_TRUE(run_until([&] {
      ssize_t r;
      while (got.size() < n && (r = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT)) > 0) got.append(chunk, r);
      return got.size() >= n;
    }));
    return got;
  }
};

std::string text_of(ConstBytes bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }

// What the callbacks saw, and whether they ran inside start().
struct Seen {
  std::vector<std::string> received;
  std::optional<std::error_code> error;
  bool ended = false;
  std::optional<std::size_t> sent;
  bool starting = false;
  bool ran_inside_start = false;
};

void on_received(void* context, Result<PooledBuffer> data) noexcept {
  auto& seen = *static_cast<Seen*>(context);
  if (seen.starting) seen.ran_inside_start = true;
  if (!data) {
    seen.error = data.error();
  } else if (data->empty()) {
    seen.ended = true;
  } else {
    seen.received.push_back(text_of(data->bytes()));
  }
}

void on_sent(void* context, Result<std::size_t> sent) noexcept {
  auto& seen = *static_cast<Seen*>(context);
  if (seen.starting) seen.ran_inside_start = true;
  if (sent) {
    seen.sent = *sent;
  } else {
    seen.error = sent.error();
  }
}

PooledBuffer leased_with(Reactor& reactor, std::string_view text) {
  PooledBuffer buffer = reactor.receive_pool().acquire();
  std::memcpy(buffer.writable().data(), text.data(), text.size());
  buffer.commit(text.size());
  return buffer;
}

TEST_P(OwnedOperationTest, ReceiveDeliversBytesThenEndOfStream) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  Seen seen;
  StreamSocket::RecvPooledOperation<&on_received> recv{&seen};
  ASSERT_FALSE(recv.start(server)) << "nothing was sent yet";
  EXPECT_TRUE(recv.busy());
  ASSERT_EQ(::send(client.native_handle(), "abc", 3, MSG_NOSIGNAL), 3);
  ASSERT_TRUE(run_until([&] { return !seen.received.empty(); }));
  EXPECT_FALSE(recv.busy());
  EXPECT_EQ(seen.received, std::vector<std::string>{"abc"});

  ASSERT_FALSE(recv.start(server));
  ASSERT_FALSE(client.shutdown(ShutdownHow::send));
  ASSERT_TRUE(run_until([&] { return seen.ended; }));
  EXPECT_FALSE(seen.error);
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u);
}

TEST_P(OwnedOperationTest, ASendThatFinishesAtOnceReturnsItsResultAndGivesTheBufferBack) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  Seen seen;
  StreamSocket::SendPooledOperation<&on_sent> send{&seen};
  std::size_t sent = 0;
  if (send.start(server, leased_with(reactor(), "hello"))) {  // an empty socket buffer takes it at once
    auto result = send.take_result();
    ASSERT_TRUE(result) << result.error().message();
    sent = *result;
  } else {
    ASSERT_TRUE(run_until([&] { return seen.sent.has_value() || seen.error.has_value(); }));
    ASSERT_FALSE(seen.error);
    sent = *seen.sent;
  }
  run_for(std::chrono::milliseconds(5));
  EXPECT_FALSE(seen.ran_inside_start);
  EXPECT_EQ(sent, 5u);
  EXPECT_FALSE(send.busy());
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u) << "the sent buffer was not given back";
  char got[8] = {};
  ASSERT_EQ(::recv(client.native_handle(), got, sizeof got, 0), 5);
  EXPECT_EQ(std::string(got, 5), "hello");
}

TEST_P(OwnedOperationTest, AReceiveOfBytesAlreadyThereFinishesAtOnceWithoutItsCallback) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  ASSERT_EQ(::send(client.native_handle(), "abc", 3, MSG_NOSIGNAL), 3);
  run_for(std::chrono::milliseconds(5));
  Seen seen;
  StreamSocket::RecvPooledOperation<&on_received> recv{&seen};
  std::string got;
  if (recv.start(server)) {
    auto data = recv.take_result();
    ASSERT_TRUE(data) << data.error().message();
    got = text_of(data->bytes());
  } else {  // io_uring: the bytes come through the multishot receive armed by this start
    ASSERT_TRUE(run_until([&] { return !seen.received.empty() || seen.error.has_value(); }));
    got = seen.received.front();
  }
  EXPECT_EQ(got, "abc");
}

TEST_P(OwnedOperationTest, DestroyingAPendingOperationAbandonsItWithoutItsCallback) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  Seen seen;
  {
    StreamSocket::RecvPooledOperation<&on_received> recv{&seen};
    ASSERT_FALSE(recv.start(server));
    run_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(::send(client.native_handle(), "abc", 3, MSG_NOSIGNAL), 3);
  run_for(std::chrono::milliseconds(20));
  EXPECT_TRUE(seen.received.empty());
  EXPECT_FALSE(seen.error);
  // The socket still works with a new operation (the bytes waited for it).
  StreamSocket::RecvPooledOperation<&on_received> again{&seen};
  if (again.start(server)) {
    auto data = again.take_result();
    ASSERT_TRUE(data) << data.error().message();
    seen.received.push_back(text_of(data->bytes()));
  }
  ASSERT_TRUE(run_until([&] { return !seen.received.empty(); }));
  EXPECT_EQ(seen.received, std::vector<std::string>{"abc"});
}

TEST_P(OwnedOperationTest, ClosingTheSocketCancelsThePendingOperation) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Seen seen;
  StreamSocket::RecvPooledOperation<&on_received> recv{&seen};
  ASSERT_FALSE(recv.start(pair->second));
  pair->second.close();
  ASSERT_TRUE(run_until([&] { return seen.error.has_value(); }));
  EXPECT_EQ(*seen.error, std::errc::operation_canceled);
}

// A connection that restarts its receive from the callback, as a state machine does: every message arrives.
struct Restarting {
  static void on_data(void* self, Result<PooledBuffer> data) noexcept;
  void receive() noexcept;
  StreamSocket* socket = nullptr;
  std::string all;
  bool ended = false;
  StreamSocket::RecvPooledOperation<&Restarting::on_data> recv{this};
};

void Restarting::on_data(void* self, Result<PooledBuffer> data) noexcept {
  auto& r = *static_cast<Restarting*>(self);
  if (!data || data->empty()) {
    r.ended = true;
    return;
  }
  r.all += text_of(data->bytes());
  r.receive();
}

// Loops over receives that finish at once; returns when one waits (its callback continues).
void Restarting::receive() noexcept {
  while (recv.start(*socket)) {
    auto data = recv.take_result();
    if (!data || data->empty()) {
      ended = true;
      return;
    }
    all += text_of(data->bytes());
  }
}

TEST_P(OwnedOperationTest, TheCallbackMayStartTheNextOperation) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  Restarting r;
  r.socket = &server;
  r.receive();
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    std::string piece = std::to_string(i) + ",";
    expected += piece;
    ASSERT_EQ(::send(client.native_handle(), piece.data(), piece.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(piece.size()));
    run_for(std::chrono::microseconds(200));
  }
  ASSERT_FALSE(client.shutdown(ShutdownHow::send));
  ASSERT_TRUE(run_until([&] { return r.ended; }));
  EXPECT_EQ(r.all, expected);
}

// What an exchange's receives brought: the bytes, then the end of the stream or an error.
struct ExchangeOutcome {
  std::string received;
  std::optional<std::error_code> error;
  bool ended = false;
  // Keeps the bytes of one completed receive; false (error or ended set) when the stream stopped there.
  bool take(std::error_code ec, const PooledBuffer& buffer) {
    if (ec) {
      error = ec;
      return false;
    }
    if (buffer.empty()) {
      ended = true;
      return false;
    }
    received += text_of(buffer.bytes());
    return true;
  }
};

// An echo over PooledExchangeOperation: each received buffer goes back from where it came.
class Echoer : public StreamSocket::PooledExchangeOperation<Echoer>, public ExchangeOutcome {
 public:
  explicit Echoer(StreamSocket& socket) : socket_(socket) {}
  void run() noexcept { receive_loop(); }
  void on_received(std::error_code ec) noexcept {
    if (!take_received(ec)) return;
    send_then_receive();
  }
  void on_sent(std::error_code ec) noexcept {
    ++sends;
    if (ec) {
      error = ec;
      return;
    }
    receive_loop();
  }
  int immediate = 0;  // operations that finished at once
  int sends = 0;      // on_sent calls

 private:
  bool take_received(std::error_code ec) noexcept { return take(ec, buffer()); }
  void send_then_receive() noexcept {
    if (!send(socket_)) return;
    ++immediate;
    on_sent(take_error());
  }
  void receive_loop() noexcept {
    while (receive(socket_)) {
      ++immediate;
      if (!take_received(take_error())) return;
      if (!send(socket_)) return;
      ++immediate;
      if (std::error_code ec = take_error()) {
        error = ec;
        return;
      }
    }
  }
  StreamSocket& socket_;
};

TEST_P(OwnedOperationTest, AnExchangeSendsBackWhatItReceivesAndHoldsNoBufferBetween) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  Echoer echo(server);
  echo.run();
  EXPECT_TRUE(echo.busy());
  std::string expected;
  for (int i = 0; i < 20; ++i) {
    std::string piece = "message " + std::to_string(i) + ";";
    expected += piece;
    ASSERT_EQ(::send(client.native_handle(), piece.data(), piece.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(piece.size()));
    EXPECT_EQ(read_back(client.native_handle(), piece.size()), piece);
    run_for(std::chrono::milliseconds(1));
    EXPECT_EQ(reactor().receive_pool().stats().leased, 0u) << "an idle exchange holds a buffer";
    EXPECT_TRUE(echo.busy()) << "the next receive waits";
  }
  EXPECT_EQ(echo.received, expected);
  ASSERT_FALSE(client.shutdown(ShutdownHow::send));
  ASSERT_TRUE(run_until([&] { return echo.ended || echo.error.has_value(); }));
  EXPECT_FALSE(echo.error) << echo.error->message();
  EXPECT_FALSE(echo.busy());
}

TEST_P(OwnedOperationTest, AnExchangeSendsAWholeBufferTheSocketTakesInPieces) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  // Only the server's send buffer is made small: shrinking the client's receive buffer after the handshake can
  // stall TCP (the window it already advertised is larger, so the receiver drops and the sender backs off).
  ASSERT_FALSE(server.set(option::SendBufferSize(4096)));
  Echoer echo(server);
  PooledBuffer& buffer = echo.buffer();
  buffer = reactor().receive_pool().acquire();
  std::string pattern;
  for (std::size_t i = 0; i < buffer.capacity(); ++i) pattern += static_cast<char>('a' + i % 23);
  std::memcpy(buffer.writable().data(), pattern.data(), pattern.size());
  buffer.commit(pattern.size());
  bool sent = false;
  std::error_code error;
  if (echo.send(server)) {
    error = echo.take_error();
    sent = true;
  }
  std::string got = read_back(client.native_handle(), pattern.size());
  if (!sent) {
    ASSERT_TRUE(run_until([&] { return echo.sends > 0; }));
    error = echo.error.value_or(std::error_code());
  }
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(got.size(), pattern.size());
  EXPECT_TRUE(got == pattern) << "the bytes came back altered or out of order";
  run_for(std::chrono::milliseconds(2));
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u) << "the sent buffer was not given back";
}

TEST_P(OwnedOperationTest, ClosingTheSocketCancelsAPendingExchangeAndDestroyingOneAbandonsIt) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  {
    Echoer abandoned(server);
    abandoned.run();
    ASSERT_TRUE(abandoned.busy());
    run_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(::send(client.native_handle(), "abc", 3, MSG_NOSIGNAL), 3);
  run_for(std::chrono::milliseconds(10));  // the abandoned receive's callback must not run (ASan: its memory is gone)
  Echoer echo(server);
  echo.run();
  EXPECT_EQ(read_back(client.native_handle(), 3), "abc") << "the bytes waited for the next receive";
  ASSERT_TRUE(echo.busy());
  server.close();
  ASSERT_TRUE(run_until([&] { return echo.error.has_value(); }));
  EXPECT_EQ(*echo.error, std::errc::operation_canceled);
}

// A standing receive (PooledExchange::start_receiving) that echoes what it receives, or, with echo off, only
// keeps the bytes. It counts its starts: the point of standing is that arrivals need none.
class StandingReceiver : public StreamSocket::PooledExchangeOperation<StandingReceiver>, public ExchangeOutcome {
 public:
  explicit StandingReceiver(StreamSocket& socket, bool echo) : socket_(socket), echo_(echo) {}
  void run() noexcept { start(); }
  void on_received(std::error_code ec) noexcept {
    ++callbacks;
    if (receiving()) ++armed_callbacks;
    if (!take_received(ec)) return;
    if (close_in_callback) {
      socket_.close();
      return;
    }
    if (stop_after == callbacks) stop_receiving();
    if (echo_) echo();
  }
  void on_sent(std::error_code ec) noexcept {
    ++waited_sends;
    if (ec) {
      error = ec;
      return;
    }
    start();
  }

  int starts = 0;           // start_receiving calls
  int callbacks = 0;        // on_received calls
  int armed_callbacks = 0;  // ... that found the receive still armed
  int waited_sends = 0;     // sends that had to wait (on_sent calls)
  int stop_after = -1;      // stop_receiving() in this callback
  bool close_in_callback = false;
  bool armed_after_sent_at_once = true;  // every send taken at once left the receive armed

 private:
  // Keeps the bytes; without echo the buffer goes back at once.
  bool take_received(std::error_code ec) noexcept {
    if (!ExchangeOutcome::take(ec, buffer())) return false;
    if (!echo_) buffer().reset();
    return true;
  }
  // Sends the buffer back; restarts the receive where the send did not leave it armed.
  void echo() noexcept {
    const bool was_receiving = receiving();
    if (!send(socket_)) {
      EXPECT_FALSE(receiving()) << "a send that waits must stop the receive";
      return;
    }
    if (std::error_code ec = take_error()) {
      error = ec;
      return;
    }
    if (was_receiving && !receiving()) armed_after_sent_at_once = false;
    if (!receiving()) start();
  }
  void start() noexcept {
    for (;;) {
      ++starts;
      if (!start_receiving(socket_)) return;
      if (!take_received(take_error())) return;  // data was there at once: not armed
      if (!echo_) continue;
      if (!send(socket_)) return;
      if (std::error_code ec = take_error()) {
        error = ec;
        return;
      }
    }
  }
  StreamSocket& socket_;
  bool echo_;
};

TEST_P(OwnedOperationTest, AStandingReceiveRunsForEveryArrivalWithoutBeingStartedAgain) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  StandingReceiver receiver(server, /*echo=*/false);
  receiver.run();
  ASSERT_TRUE(receiver.receiving());
  std::string expected;
  for (int i = 0; i < 20; ++i) {
    std::string piece = "arrival " + std::to_string(i) + ";";
    expected += piece;
    ASSERT_EQ(::send(client.native_handle(), piece.data(), piece.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(piece.size()));
    ASSERT_TRUE(run_until([&] { return receiver.received.size() == expected.size(); }));
    EXPECT_TRUE(receiver.receiving()) << "the receive did not stay armed after arrival " << i;
    EXPECT_EQ(reactor().receive_pool().stats().leased, 0u) << "a waiting standing receive holds a buffer";
  }
  EXPECT_EQ(receiver.received, expected);
  EXPECT_EQ(receiver.starts, 1) << "the receive was started again";
  EXPECT_EQ(receiver.armed_callbacks, receiver.callbacks);
  ASSERT_FALSE(client.shutdown(ShutdownHow::send));
  ASSERT_TRUE(run_until([&] { return receiver.ended || receiver.error.has_value(); }));
  EXPECT_FALSE(receiver.error) << receiver.error->message();
  EXPECT_FALSE(receiver.receiving()) << "the end of the stream is the last completion";
  EXPECT_EQ(receiver.armed_callbacks, receiver.callbacks - 1);
}

TEST_P(OwnedOperationTest, StoppingAStandingReceiveInItsCallbackLeavesLaterBytesForTheNextStart) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  StandingReceiver receiver(server, /*echo=*/false);
  receiver.stop_after = 1;
  receiver.run();
  ASSERT_EQ(::send(client.native_handle(), "one", 3, MSG_NOSIGNAL), 3);
  ASSERT_TRUE(run_until([&] { return receiver.callbacks == 1; }));
  EXPECT_FALSE(receiver.receiving());
  EXPECT_FALSE(receiver.busy());
  ASSERT_EQ(::send(client.native_handle(), "two", 3, MSG_NOSIGNAL), 3);
  run_for(std::chrono::milliseconds(10));
  EXPECT_EQ(receiver.callbacks, 1) << "a stopped receive ran again";
  EXPECT_EQ(receiver.received, "one");
  receiver.run();  // "two" waited: at once or by callback
  ASSERT_TRUE(run_until([&] { return receiver.received == "onetwo"; })) << receiver.received;
  EXPECT_TRUE(receiver.receiving());
}

TEST_P(OwnedOperationTest, AStandingEchoStaysArmedWhileSendsGoAtOnceAndStopsWhileOneWaits) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  ASSERT_FALSE(server.set(option::SendBufferSize(4096)));
  StandingReceiver echo(server, /*echo=*/true);
  echo.run();
  // The client reads back only when its own sends would block: by then the server's socket is full and its
  // sends wait (the pipeline fills from the server's side first), and nothing can deadlock.
  std::string expected;
  const int fd = client.native_handle();
  std::string got;
  char chunk[16384];
  for (int i = 0; i < 400; ++i) {
    std::string piece = "piece " + std::to_string(i) + std::string(1000, static_cast<char>('a' + i % 26)) + ";";
    expected += piece;
    std::size_t off = 0;
    ASSERT_TRUE(run_until([&] {
      ssize_t r = ::send(fd, piece.data() + off, piece.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (r > 0) off += static_cast<std::size_t>(r);
      if (r < 0)
        while ((r = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT)) > 0) got.append(chunk, static_cast<std::size_t>(r));
      return off == piece.size();
    }));
  }
  got += read_back(fd, expected.size() - got.size());
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "the echo altered or reordered the bytes";
  EXPECT_FALSE(echo.error) << echo.error->message();
  EXPECT_GT(echo.waited_sends, 0) << "no send had to wait: the test did not fill the socket";
  EXPECT_TRUE(echo.armed_after_sent_at_once);
  ASSERT_TRUE(run_until([&] { return echo.receiving(); })) << "the receive did not start again after the waits";
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u);
}

TEST_P(OwnedOperationTest, ClosingTheSocketEndsAStandingReceiveAndDestroyingOneAbandonsIt) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  {
    StandingReceiver abandoned(server, /*echo=*/false);
    abandoned.run();
    ASSERT_TRUE(abandoned.receiving());
    run_for(std::chrono::milliseconds(2));
  }
  ASSERT_EQ(::send(client.native_handle(), "abc", 3, MSG_NOSIGNAL), 3);
  run_for(std::chrono::milliseconds(10));  // the abandoned receive's callback must not run (ASan: its memory is gone)
  StandingReceiver receiver(server, /*echo=*/false);
  receiver.run();
  ASSERT_TRUE(run_until([&] { return receiver.received == "abc"; })) << "the bytes waited for the next receive";
  ASSERT_TRUE(receiver.receiving());
  server.close();
  ASSERT_TRUE(run_until([&] { return receiver.error.has_value(); }));
  EXPECT_EQ(*receiver.error, std::errc::operation_canceled);
  EXPECT_FALSE(receiver.receiving());
}

TEST_P(OwnedOperationTest, ClosingTheSocketInsideAStandingReceiveCallbackEndsItOnce) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  StandingReceiver receiver(server, /*echo=*/false);
  receiver.close_in_callback = true;
  receiver.run();
  ASSERT_EQ(::send(client.native_handle(), "abc", 3, MSG_NOSIGNAL), 3);
  ASSERT_TRUE(run_until([&] { return receiver.error.has_value(); }));
  EXPECT_EQ(*receiver.error, std::errc::operation_canceled);
  EXPECT_EQ(receiver.callbacks, 2) << "the data, then the cancellation";
  EXPECT_FALSE(receiver.busy());
  run_for(std::chrono::milliseconds(5));
  EXPECT_EQ(receiver.callbacks, 2);
}

RFARM_INSTANTIATE_BACKEND_TESTS(OwnedOperationTest);

}  // namespace
}  // namespace rfarm::test

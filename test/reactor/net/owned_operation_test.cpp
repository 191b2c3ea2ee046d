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

// An echo over PooledExchangeOperation: each received buffer goes back from where it came.
class Echoer : public StreamSocket::PooledExchangeOperation<Echoer> {
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
  std::string received;
  std::optional<std::error_code> error;
  bool ended = false;
  int immediate = 0;  // operations that finished at once
  int sends = 0;      // on_sent calls

 private:
  bool take_received(std::error_code ec) noexcept {
    if (ec) {
      error = ec;
      return false;
    }
    if (buffer().empty()) {
      ended = true;
      return false;
    }
    received += text_of(buffer().bytes());
    return true;
  }
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
  ASSERT_FALSE(server.set(option::SendBufferSize(4096)));
  ASSERT_FALSE(client.set(option::ReceiveBufferSize(4096)));
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

RFARM_INSTANTIATE_BACKEND_TESTS(OwnedOperationTest);

}  // namespace
}  // namespace rfarm::test

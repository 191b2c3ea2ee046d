// StreamSocket over TCP loopback (IPv4, IPv6) and socketpairs: both styles (coroutines, callbacks), bulk
// transfer, gather sends, exact receives, half-close, connect failures and time-outs, cancellation.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"
#include "test/support/byte_pattern.hpp"

namespace rfarm::test {
namespace {

// Everything until end of stream.
Task<Result<std::string>> read_to_end(StreamSocket& sock) {
  std::string all;
  std::array<std::byte, 16 * 1024> buffer;
  for (;;) {
    auto n = co_await sock.recv(buffer);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return all;
    all.append(as_chars(ConstBytes(buffer.data(), *n)));
  }
}

// Echoes until the peer half-closes, then half-closes too. Owns its connection (spawned).
Task<void> echo_until_end(StreamSocket conn) {
  std::array<std::byte, 16 * 1024> buffer;
  for (;;) {
    auto n = co_await conn.recv(buffer);
    if (!n || *n == 0) break;
    if (!co_await conn.send_all(ConstBytes(buffer.data(), *n))) co_return;
  }
  conn.shutdown(ShutdownHow::send);
}

Task<void> accept_one_and_echo(Reactor& reactor, StreamListener& listener) {
  auto conn = co_await listener.accept();
  if (!conn) {
    ADD_FAILURE() << "accept: " << conn.error().message();
    co_return;
  }
  reactor.spawn(echo_until_end(std::move(*conn)));
}

// The client half of a coroutine-style echo exchange: sends, half-closes, returns everything that came back.
Task<Result<std::string>> echo_client(Reactor& reactor, Address where, std::string message) {
  auto sock = co_await StreamSocket::connect(reactor, where, 2s);
  if (!sock) co_return fail(sock.error());
  auto sent = co_await sock->send_all(as_bytes(message));
  if (!sent) co_return fail(sent.error());
  if (auto ec = sock->shutdown(ShutdownHow::send)) co_return fail(ec);
  co_return co_await read_to_end(*sock);
}

// Callback style, server half: accepts one connection and echoes until end of stream.
struct CallbackEchoServer {
  StreamListener& listener;
  StreamSocket conn;
  std::array<std::byte, 4096> buffer{};
  std::error_code error{};
  bool done = false;

  void start() {
    listener.async_accept([this](Result<StreamSocket> accepted) {
      if (!accepted) return finish(accepted.error());
      conn = std::move(*accepted);
      receive();
    });
  }
  void receive() {
    conn.async_recv(buffer, [this](Result<std::size_t> n) {
      if (!n) return finish(n.error());
      if (*n == 0) return finish(conn.shutdown(ShutdownHow::send));
      conn.async_send_all(ConstBytes(buffer.data(), *n), [this](Result<std::size_t> sent) {
        if (!sent) return finish(sent.error());
        receive();
      });
    });
  }
  void finish(std::error_code ec) {
    error = ec;
    done = true;
  }
};

// Callback style, client half: connects, sends the message, half-closes, collects the reply until the end.
struct CallbackEchoClient {
  StreamSocket sock;
  std::string message;
  std::string reply{};
  std::array<std::byte, 4096> buffer{};
  std::error_code error{};
  bool done = false;

  void start(const Address& where) {
    sock.async_connect(where, 2s, [this](std::error_code ec) {
      if (ec) return finish(ec);
      sock.async_send_all(as_bytes(message), [this](Result<std::size_t> sent) {
        if (!sent) return finish(sent.error());
        if (std::error_code ec = sock.shutdown(ShutdownHow::send)) return finish(ec);
        receive();
      });
    });
  }
  void receive() {
    sock.async_recv(buffer, [this](Result<std::size_t> n) {
      if (!n) return finish(n.error());
      if (*n == 0) return finish({});
      reply.append(as_chars(ConstBytes(buffer.data(), *n)));
      receive();
    });
  }
  void finish(std::error_code ec) {
    error = ec;
    done = true;
  }
};

class StreamSocketTest : public BackendTest {
 protected:
  // GTEST_SKIP only leaves this helper: callers follow it with `if (IsSkipped()) return;`.
  void skip_unless_ipv6() {
    if (!ipv6_loopback_available()) GTEST_SKIP() << "IPv6 loopback (::1) unavailable here: cannot bind [::1]:0";
  }

  void coroutine_echo_round_trip(AddressFamily family) {
    auto listener = listen_loopback(family);
    ASSERT_TRUE(listener) << listener.error().message();
    auto where = listener->local_address();
    ASSERT_TRUE(where);
    reactor().spawn(accept_one_and_echo(reactor(), *listener));
    std::string message = pattern(100'000, 1);
    auto reply = run(echo_client(reactor(), *where, message));
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_EQ(reply->size(), message.size());
    EXPECT_TRUE(*reply == message);
  }

  void callback_echo_round_trip(AddressFamily family) {
    auto listener = listen_loopback(family);
    ASSERT_TRUE(listener) << listener.error().message();
    auto where = listener->local_address();
    ASSERT_TRUE(where);
    auto sock = StreamSocket::open(reactor(), where->native_family());
    ASSERT_TRUE(sock);
    CallbackEchoServer server{*listener, {}};
    CallbackEchoClient client{std::move(*sock), pattern(100'000, 2)};
    server.start();
    client.start(*where);
    ASSERT_TRUE(run_until([&] { return server.done && client.done; }));
    EXPECT_FALSE(server.error) << server.error.message();
    EXPECT_FALSE(client.error) << client.error.message();
    EXPECT_EQ(client.reply.size(), client.message.size());
    EXPECT_TRUE(client.reply == client.message);
  }

  // A loopback port on which nothing listens: bound (so no one else takes it) but not listening, so a SYN
  // to it is answered with a reset.
  Address closed_port() {
    closed_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    Address a = Address::loopback_v4(0);
    EXPECT_EQ(::bind(closed_fd_, a.native(), a.native_length()), 0);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(closed_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len).value();
  }

  // A loopback listener whose accept queue is full and never drained, so a further connect hangs.
  // Linux admits backlog + 1 connections to the accept queue and drops SYNs beyond that
  // (tcp_conn_request() checks sk_acceptq_is_full(), which is "more than backlog"): with backlog 0, one
  // connection fills it.
  Address unanswered_endpoint() {
    ListenOptions options;
    options.backlog = 0;
    auto listener = listen_loopback(AddressFamily::ipv4, options);
    EXPECT_TRUE(listener);
    full_listener_ = std::move(*listener);
    Address where = full_listener_.local_address().value();
    auto filler = run(StreamSocket::connect(reactor(), where, 2s));
    EXPECT_TRUE(filler) << "the connection filling the accept queue: " << filler.error().message();
    if (filler) filler_ = std::move(*filler);
    return where;
  }

  void TearDown() override {
    if (closed_fd_ >= 0) ::close(closed_fd_);
    filler_.close();  // sockets must not outlive their reactor
    full_listener_.close();
    BackendTest::TearDown();
  }

 private:
  int closed_fd_ = -1;
  StreamListener full_listener_;
  StreamSocket filler_;
};

TEST_P(StreamSocketTest, EchoRoundTripOverIpv4WithCoroutines) { coroutine_echo_round_trip(AddressFamily::ipv4); }

TEST_P(StreamSocketTest, EchoRoundTripOverIpv6WithCoroutines) {
  skip_unless_ipv6();
  if (IsSkipped()) return;
  coroutine_echo_round_trip(AddressFamily::ipv6);
}

TEST_P(StreamSocketTest, EchoRoundTripOverIpv4WithCallbacks) { callback_echo_round_trip(AddressFamily::ipv4); }

TEST_P(StreamSocketTest, EchoRoundTripOverIpv6WithCallbacks) {
  skip_unless_ipv6();
  if (IsSkipped()) return;
  callback_echo_round_trip(AddressFamily::ipv6);
}

// Per-connection memory at tens of thousands of connections: a socket driven by coroutines keeps its
// operations in the coroutine frame, so its state must not carry the callback-style ones (~2.5 KiB) too.
TEST(StreamSocketFootprint, StateWithoutCallbackOperationsStaysSmall) {
  EXPECT_LE(sizeof(detail::StreamState), 128u);
}

// The callback operations are made on first use; one socket may then mix both styles.
TEST_P(StreamSocketTest, CallbackOperationAfterCoroutineOnesOnTheSameSocket) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  run([](StreamSocket& a, StreamSocket& b) -> Task<void> {
    const std::string first = "by coroutine";
    EXPECT_TRUE(co_await a.send_all(as_bytes(first)));
    std::array<std::byte, 64> buffer{};
    auto n = co_await b.recv_exactly(MutableBytes(buffer.data(), first.size()));
    EXPECT_TRUE(n);
  }(a, b));
  std::optional<Result<std::size_t>> sent;
  const std::string second = "by callback";
  a.async_send_all(as_bytes(second), [&](Result<std::size_t> r) { sent = r; });
  ASSERT_TRUE(run_until([&] { return sent.has_value(); }));
  ASSERT_TRUE(*sent);
  EXPECT_EQ(**sent, second.size());
  std::array<char, 64> got{};
  ASSERT_EQ(::recv(b.native_handle(), got.data(), got.size(), 0), static_cast<ssize_t>(second.size()));
  EXPECT_EQ(std::string(got.data(), second.size()), second);
}

TEST_P(StreamSocketTest, AddressesOfAConnectedPairMirrorEachOther) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  EXPECT_EQ(client.local_address().value(), server.remote_address().value());
  EXPECT_EQ(client.remote_address().value(), server.local_address().value());
  EXPECT_EQ(client.remote_address()->ip_string(), "127.0.0.1");
}

TEST_P(StreamSocketTest, RecvPooledReturnsDataThenAnEmptyBufferAtEndOfStream) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  auto first = run([](StreamSocket& from, StreamSocket& to) -> Task<Result<PooledBuffer>> {
    co_await from.send_all(as_bytes("pooled bytes"));
    from.shutdown(ShutdownHow::send);
    co_return co_await to.recv_pooled();
  }(client, server));
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_EQ(as_chars(first->bytes()), "pooled bytes");

  auto at_end = run([](StreamSocket& s) -> Task<Result<PooledBuffer>> { co_return co_await s.recv_pooled(); }(server));
  ASSERT_TRUE(at_end) << "end of stream is not an error: " << at_end.error().message();
  EXPECT_TRUE(at_end->empty());
}

TEST_P(StreamSocketTest, AsyncRecvPooledDeliversDataThenAnEmptyBuffer) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::vector<std::string> received;
  bool ended = false;
  std::error_code error;
  std::function<void()> receive = [&] {
    pair->second.async_recv_pooled([&](Result<PooledBuffer> b) {
      if (!b) {
        error = b.error();
        ended = true;
      } else if (b->empty()) {
        ended = true;
      } else {
        received.emplace_back(as_chars(b->bytes()));
        receive();
      }
    });
  };
  receive();
  ASSERT_EQ(::send(pair->first.native_handle(), "abc", 3, 0), 3);
  ASSERT_TRUE(run_until([&] { return !received.empty(); }));
  ASSERT_FALSE(pair->first.shutdown(ShutdownHow::send));
  ASSERT_TRUE(run_until([&] { return ended; }));
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(received, std::vector<std::string>{"abc"});
}

TEST_P(StreamSocketTest, EightMebibytesEachWayConcurrentlyArriveIntact) {
  constexpr std::size_t kSize = 8 << 20;
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  const std::string upstream = pattern(kSize, 3);
  const std::string downstream = pattern(kSize, 4);
  std::string got_up(kSize, '\0');
  std::string got_down(kSize, '\0');
  int finished = 0;
  std::vector<std::string> errors;

  auto send = [](StreamSocket& s, const std::string& data, int& done, std::vector<std::string>& errs) -> Task<void> {
    auto n = co_await s.send_all(as_bytes(data));
    if (!n) errs.push_back("send: " + n.error().message());
    else if (*n != data.size()) errs.push_back("short send");
    ++done;
  };
  auto receive = [](StreamSocket& s, std::string& into, int& done, std::vector<std::string>& errs) -> Task<void> {
    auto n = co_await s.recv_exactly(as_writable_bytes(into));
    if (!n) errs.push_back("recv: " + n.error().message());
    ++done;
  };
  // Both directions at once: each socket has one send and one receive in flight.
  reactor().spawn(send(client, upstream, finished, errors));
  reactor().spawn(send(server, downstream, finished, errors));
  reactor().spawn(receive(server, got_up, finished, errors));
  reactor().spawn(receive(client, got_down, finished, errors));
  ASSERT_TRUE(run_until([&] { return finished == 4; }, 30s));
  EXPECT_TRUE(errors.empty()) << errors.front();
  EXPECT_TRUE(got_up == upstream) << "client to server stream differs";
  EXPECT_TRUE(got_down == downstream) << "server to client stream differs";
}

TEST_P(StreamSocketTest, SendAllGathersSeveralBuffersInOrder) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  std::string a = "header:", b = "body-body-body", c = ":trailer";
  std::array<iovec, 3> iov{{{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}}};
  auto sent = run([](StreamSocket& s, std::span<iovec> v) -> Task<Result<std::size_t>> {
    co_return co_await s.send_all(v);
  }(client, iov));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, a.size() + b.size() + c.size());
  std::string got(*sent, '\0');
  auto n = run([](StreamSocket& s, std::string& into) -> Task<Result<std::size_t>> {
    co_return co_await s.recv_exactly(as_writable_bytes(into));
  }(server, got));
  ASSERT_TRUE(n);
  EXPECT_EQ(got, a + b + c);
}

TEST_P(StreamSocketTest, SendAllGatherListSurvivesPartialWrites) {
  // 64 x 64 KiB cannot fit in the socket buffers while nobody reads: sendmsg takes part of the list and
  // send_all must resume mid-iovec, in place.
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  // Fixed buffer sizes turn off autotuning (tcp(7)), so the list cannot fit however the host is tuned.
  ASSERT_FALSE(client.set(option::SendBufferSize(64 * 1024)));
  ASSERT_FALSE(server.set(option::ReceiveBufferSize(64 * 1024)));
  std::vector<std::string> pieces;
  std::vector<iovec> iov;
  std::string expected;
  for (std::uint32_t i = 0; i < 64; ++i) pieces.push_back(pattern(64 * 1024 + i, 100 + i));
  for (auto& p : pieces) {
    iov.push_back({p.data(), p.size()});
    expected += p;
  }
  std::optional<Result<std::size_t>> sent;
  reactor().spawn([](StreamSocket& s, std::span<iovec> v, std::optional<Result<std::size_t>>& out) -> Task<void> {
    out = co_await s.send_all(v);
  }(client, iov, sent));
  run_for(20ms);  // the sender fills the buffers and waits
  EXPECT_FALSE(sent.has_value()) << "4 MiB cannot fit in 64 KiB socket buffers";
  std::string got(expected.size(), '\0');
  auto n = run([](StreamSocket& s, std::string& into) -> Task<Result<std::size_t>> {
    co_return co_await s.recv_exactly(as_writable_bytes(into));
  }(server, got));
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_TRUE(run_until([&] { return sent.has_value(); }));
  ASSERT_TRUE(*sent) << sent->error().message();
  EXPECT_EQ(**sent, expected.size());
  EXPECT_TRUE(got == expected);
}

TEST_P(StreamSocketTest, RecvExactlyWaitsForEveryByte) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto sender = [](Reactor& r, StreamSocket& s) -> Task<void> {
    for (std::string_view piece : {"abc", "defg", "hij"}) {
      co_await r.sleep(2ms);
      co_await s.send_all(as_bytes(piece));
    }
  };
  reactor().spawn(sender(reactor(), pair->first));
  std::string got(10, '\0');
  auto n = run([](StreamSocket& s, std::string& into) -> Task<Result<std::size_t>> {
    co_return co_await s.recv_exactly(as_writable_bytes(into));
  }(pair->second, got));
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(got, "abcdefghij");
}

TEST_P(StreamSocketTest, RecvExactlyReportsEndOfStreamWhenThePeerStopsShort) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  ASSERT_EQ(::send(pair->first.native_handle(), "abc", 3, 0), 3);
  ASSERT_FALSE(pair->first.shutdown(ShutdownHow::send));
  std::string got(5, '\0');
  auto n = run([](StreamSocket& s, std::string& into) -> Task<Result<std::size_t>> {
    co_return co_await s.recv_exactly(as_writable_bytes(into));
  }(pair->second, got));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), Errc::end_of_stream);
  EXPECT_EQ(got.substr(0, 3), "abc");
}

TEST_P(StreamSocketTest, AsyncRecvExactlyReportsEndOfStreamWhenThePeerStopsShort) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::string got(5, '\0');
  std::optional<Result<std::size_t>> result;
  pair->second.async_recv_exactly(as_writable_bytes(got), [&](Result<std::size_t> n) { result = n; });
  ASSERT_EQ(::send(pair->first.native_handle(), "abc", 3, 0), 3);
  ASSERT_FALSE(pair->first.shutdown(ShutdownHow::send));
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error(), Errc::end_of_stream);
}

TEST_P(StreamSocketTest, HalfCloseLetsPeerKeepSending) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  // The client says everything it has to say and half-closes; the server reads to the end, then answers
  // on its still-open direction; the client reads the answer and the server's end of stream.
  auto client_side = [](StreamSocket& s) -> Task<Result<std::string>> {
    auto sent = co_await s.send_all(as_bytes("question"));
    if (!sent) co_return fail(sent.error());
    if (auto ec = s.shutdown(ShutdownHow::send)) co_return fail(ec);
    co_return co_await read_to_end(s);
  };
  auto server_side = [](StreamSocket& s, std::optional<Result<std::string>>& heard) -> Task<void> {
    heard = co_await read_to_end(s);  // ends: the client half-closed
    co_await s.send_all(as_bytes("answer after your end of stream"));
    s.close();
  };
  std::optional<Result<std::string>> heard;
  reactor().spawn(server_side(server, heard));
  auto answer = run(client_side(client));
  ASSERT_TRUE(heard.has_value());
  ASSERT_TRUE(*heard) << heard->error().message();
  EXPECT_EQ(**heard, "question");
  ASSERT_TRUE(answer) << answer.error().message();
  EXPECT_EQ(*answer, "answer after your end of stream");
}

TEST_P(StreamSocketTest, ConnectToAClosedPortIsRefused) {
  Address where = closed_port();
  auto sock = run(StreamSocket::connect(reactor(), where, 2s));
  ASSERT_FALSE(sock);
  EXPECT_EQ(sock.error(), std::errc::connection_refused) << sock.error().message();
}

TEST_P(StreamSocketTest, AsyncConnectToAClosedPortIsRefused) {
  Address where = closed_port();
  auto sock = StreamSocket::open(reactor(), AF_INET);
  ASSERT_TRUE(sock);
  std::optional<std::error_code> result;
  sock->async_connect(where, 2s, [&](std::error_code ec) { result = ec; });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_EQ(*result, std::errc::connection_refused) << result->message();
}

TEST_P(StreamSocketTest, ConnectTimesOutWhenTheListenerNeverAnswers) {
  Address where = unanswered_endpoint();
  Clock::time_point start = reactor().now();
  auto sock = run(StreamSocket::connect(reactor(), where, 150ms));
  ASSERT_FALSE(sock) << "connected although the accept queue was full";
  EXPECT_EQ(sock.error(), Errc::timed_out) << sock.error().message();
  EXPECT_EQ(sock.error(), std::errc::timed_out) << "Errc::timed_out maps to the portable condition";
  EXPECT_GE(Clock::now() - start, 150ms) << "the deadline fired early";
}

TEST_P(StreamSocketTest, AsyncConnectTimesOutWhenTheListenerNeverAnswers) {
  Address where = unanswered_endpoint();
  auto sock = StreamSocket::open(reactor(), AF_INET);
  ASSERT_TRUE(sock);
  std::optional<std::error_code> result;
  sock->async_connect(where, 150ms, [&](std::error_code ec) { result = ec; });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  EXPECT_EQ(*result, Errc::timed_out) << result->message();
}

TEST_P(StreamSocketTest, ConnectDeadlineIsDisarmedOnSuccess) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  Address where = listener->local_address().value();
  auto sock = run(StreamSocket::connect(reactor(), where, 30ms));
  ASSERT_TRUE(sock) << sock.error().message();
  // The awaitable (and its timer node) are gone now; a deadline left armed would fire into freed memory.
  run_for(60ms);
  EXPECT_TRUE(sock->is_open());
  EXPECT_TRUE(sock->remote_address().has_value());
}

TEST_P(StreamSocketTest, CloseCancelsAPendingCallbackRecv) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::array<std::byte, 16> buffer;
  std::optional<Result<std::size_t>> result;
  pair->first.async_recv(buffer, [&](Result<std::size_t> n) { result = n; });
  run_for(5ms);
  ASSERT_FALSE(result.has_value());
  pair->first.close();
  EXPECT_FALSE(result.has_value()) << "close() must not run handlers inside the call";
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error(), std::errc::operation_canceled) << result->error().message();
}

TEST_P(StreamSocketTest, CloseCancelsAnAwaitedRecv) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::optional<Result<std::size_t>> result;
  reactor().spawn([](StreamSocket& s, std::optional<Result<std::size_t>>& out) -> Task<void> {
    std::array<std::byte, 16> buffer;
    out = co_await s.recv(buffer);
  }(pair->first, result));
  run_for(5ms);
  ASSERT_FALSE(result.has_value());
  pair->first.close();
  ASSERT_TRUE(run_until([&] { return result.has_value(); }));
  ASSERT_FALSE(*result);
  EXPECT_EQ(result->error(), std::errc::operation_canceled) << result->error().message();
}

TEST_P(StreamSocketTest, RecvOnAClosedSocketFailsWithBadDescriptor) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  pair->first.close();
  auto n = run([](StreamSocket& s) -> Task<Result<std::size_t>> {
    std::array<std::byte, 16> buffer;
    co_return co_await s.recv(buffer);
  }(pair->first));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::bad_file_descriptor);
}

TEST_P(StreamSocketTest, DestroyingASocketDropsItsPendingHandlers) {
  bool called = false;
  {
    auto pair = StreamSocket::pair(reactor());
    ASSERT_TRUE(pair);
    std::array<std::byte, 16> buffer;
    pair->first.async_recv(buffer, [&](Result<std::size_t>) { called = true; });
    run_for(2ms);
  }
  run_for(10ms);
  EXPECT_FALSE(called) << "a destroyed socket's handler usually captures freed state: it must not run";
}

TEST_P(StreamSocketTest, SecondCallbackRecvIsRefusedWithOperationInProgress) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::array<std::byte, 16> first_buffer, second_buffer;
  std::optional<Result<std::size_t>> first, second;
  pair->first.async_recv(first_buffer, [&](Result<std::size_t> n) { first = n; });
  pair->first.async_recv(second_buffer, [&](Result<std::size_t> n) { second = n; });
  EXPECT_FALSE(second.has_value()) << "the refusal is reported on a coming turn, never inline";
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  ASSERT_FALSE(*second);
  EXPECT_EQ(second->error(), Errc::operation_in_progress);
  EXPECT_EQ(second->error(), std::errc::operation_in_progress);
  EXPECT_FALSE(first.has_value()) << "the refusal must not disturb the operation in progress";
  ASSERT_EQ(::send(pair->second.native_handle(), "x", 1, 0), 1);
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  ASSERT_TRUE(*first) << first->error().message();
  EXPECT_EQ(**first, 1u);
}

TEST_P(StreamSocketTest, SecondCallbackSendAllIsRefusedWithOperationInProgress) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  // Big enough not to fit in the socketpair's buffers, so the first send_all is still running.
  std::string big = pattern(4 << 20, 5);
  std::optional<Result<std::size_t>> first, second;
  pair->first.async_send_all(as_bytes(big), [&](Result<std::size_t> n) { first = n; });
  pair->first.async_send_all(as_bytes("more"), [&](Result<std::size_t> n) { second = n; });
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  ASSERT_FALSE(*second);
  EXPECT_EQ(second->error(), Errc::operation_in_progress);
  EXPECT_FALSE(first.has_value());
  std::string got(big.size(), '\0');
  auto n = run([](StreamSocket& s, std::string& into) -> Task<Result<std::size_t>> {
    co_return co_await s.recv_exactly(as_writable_bytes(into));
  }(pair->second, got));
  ASSERT_TRUE(n);
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  ASSERT_TRUE(*first) << first->error().message();
  EXPECT_TRUE(got == big);
}

TEST_P(StreamSocketTest, RecvAfterAPeekReturnsThePeekedBytes) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto peek_then_read = [](StreamSocket& from, StreamSocket& to) -> Task<std::pair<std::string, std::string>> {
    std::array<std::byte, 64> buffer;
    co_await from.send_all(as_bytes("first"));
    co_await to.recv(buffer);  // a short read: the receive queue is empty now
    co_await from.send_all(as_bytes("second"));
    auto peeked = co_await to.recv(buffer, MSG_PEEK);
    std::string p = peeked ? std::string(as_chars(ConstBytes(buffer.data(), *peeked))) : "peek failed";
    auto read = co_await to.recv(buffer);  // the peeked bytes are still queued: this must not wait
    std::string r = read ? std::string(as_chars(ConstBytes(buffer.data(), *read))) : "read failed";
    co_return std::pair{p, r};
  };
  auto [peeked, read] = run(peek_then_read(pair->first, pair->second), 1s);
  EXPECT_EQ(peeked, "second");
  EXPECT_EQ(read, "second");
}

TEST_P(StreamSocketTest, SendToAPeerThatClosedFailsWithoutKillingTheProcess) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  server.close();
  // The first send may still be accepted; the peer answers it with a reset, and a later one fails (EPIPE
  // or ECONNRESET), without a SIGPIPE.
  auto error = run([](Reactor& r, StreamSocket& s) -> Task<std::error_code> {
    for (int i = 0; i < 100; ++i) {
      auto n = co_await s.send(as_bytes("data"));
      if (!n) co_return n.error();
      co_await r.sleep(1ms);
    }
    co_return std::error_code{};
  }(reactor(), client));
  EXPECT_TRUE(error == std::errc::broken_pipe || error == std::errc::connection_reset) << error.message();
}

// The seam's contract (io_op.hpp): cancel() completes a *pending* op with -ECANCELED and leaves one that already
// completed alone, including one whose completion is still waiting in the completion queue.
TEST_P(StreamSocketTest, CancellingAnOperationThatAlreadyCompletedKeepsItsResult) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair) << pair.error().message();
  ASSERT_EQ(::send(pair->second.native_handle(), "x", 1, 0), 1);
  struct Probe : detail::MsgOp {
    Probe() noexcept : MsgOp(detail::OpKind::recv, &Probe::done) {}
    static void done(detail::IoOp& op) noexcept { static_cast<Probe&>(op).finished = true; }
    bool finished = false;
    char byte = 0;
  } op;
  op.handle = pair->first.state();
  op.set_buffer(&op.byte, 1);
  detail::Backend& backend = reactor().backend();
  if (!backend.start(op)) {
    backend.cancel(op);  // still pending: the cancel may win, which is correct; clean up and say why we stop
    ASSERT_TRUE(run_until([&] { return op.finished; }));
    GTEST_SKIP() << to_string(GetParam()) << " queued the receive instead of completing it at once";
  }
  op.pending = true;  // as detail::start_and_defer does: the completion runs later in the turn
  op.backend = &backend;
  reactor().completions().push(op);
  backend.cancel(op);
  ASSERT_TRUE(run_until([&] { return op.finished; }));
  EXPECT_EQ(op.result, 1) << "cancel overwrote a finished result with " << op.result;
  EXPECT_EQ(op.byte, 'x');
}

RFARM_INSTANTIATE_BACKEND_TESTS(StreamSocketTest);

}  // namespace
}  // namespace rfarm::test

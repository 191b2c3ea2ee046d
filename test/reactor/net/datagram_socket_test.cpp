// DatagramSocket over UDP (IPv4, IPv6) with Python's socket module as the peer: sender addresses, truncation,
// batches (recvmmsg / sendmmsg), connected sockets, broadcast, both styles, cancellation.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <array>
#include <set>
#include <string>
#include <vector>

#include "reactor/net/datagram_socket.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

using DatagramSocketTest = BackendTest;

// argv: family ("4"/"6"), host, our port, count, size. Binds, prints its port, sends `count` datagrams
// "ping-<i>" (padded with '.' to `size` bytes when size > 0), prints "sent", then prints each reply it gets.
constexpr const char* kPythonPinger = R"(
import socket, sys
fam = socket.AF_INET6 if sys.argv[1] == '6' else socket.AF_INET
host, port, count, size = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(fam, socket.SOCK_DGRAM)
s.settimeout(5)
s.bind((host, 0))
print(s.getsockname()[1], flush=True)
for i in range(count):
    s.sendto((b'ping-%d' % i).ljust(size, b'.'), (host, port))
print('sent', flush=True)
for i in range(count):
    d, a = s.recvfrom(65536)
    print(d.decode(), flush=True)
)";

Result<ChildProcess> start_pinger(const Address& target, int count, int size = 0) {
  return ChildProcess::spawn({python3(), "-c", kPythonPinger, target.family() == AddressFamily::ipv6 ? "6" : "4",
                              target.ip_string(), std::to_string(target.port()), std::to_string(count),
                              std::to_string(size)});
}

std::string text_of(const std::array<std::byte, 2048>& buffer, std::size_t n) {
  return std::string(as_chars(ConstBytes(buffer.data(), n)));
}

}  // namespace

TEST_P(DatagramSocketTest, RecvFromReportsTheSenderAndSendToAnswersItV4) {
  auto sock = DatagramSocket::bind(reactor(), Address::loopback_v4(0));
  ASSERT_TRUE(sock) << sock.error().message();
  auto py = start_pinger(*sock->local_address(), 1);
  ASSERT_TRUE(py) << py.error().message();
  auto py_port = py->read_line(5s);
  ASSERT_TRUE(py_port) << "python3 peer did not start";
  std::array<std::byte, 2048> buffer{};
  auto got = run([&]() -> Task<Result<Datagram>> {
    auto d = co_await sock->recv_from(buffer);
    if (d) co_await sock->send_to(as_bytes("pong:" + text_of(buffer, d->size)), d->sender);
    co_return d;
  }());
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->size, 6u);
  EXPECT_FALSE(got->truncated);
  EXPECT_EQ(got->sender, Address::loopback_v4(static_cast<std::uint16_t>(std::stoi(*py_port))));
  EXPECT_EQ(py->read_line(5s), "sent");
  EXPECT_EQ(py->read_line(5s), "pong:ping-0");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(DatagramSocketTest, RecvFromReportsTheSenderAndSendToAnswersItV6) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback (::1) in this environment";
  auto sock = DatagramSocket::bind(reactor(), Address::loopback_v6(0));
  ASSERT_TRUE(sock) << sock.error().message();
  auto py = start_pinger(*sock->local_address(), 1);
  ASSERT_TRUE(py) << py.error().message();
  auto py_port = py->read_line(5s);
  ASSERT_TRUE(py_port);
  std::array<std::byte, 2048> buffer{};
  auto got = run([&]() -> Task<Result<Datagram>> {
    auto d = co_await sock->recv_from(buffer);
    if (d) co_await sock->send_to(as_bytes("pong:" + text_of(buffer, d->size)), d->sender);
    co_return d;
  }());
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->sender, Address::loopback_v6(static_cast<std::uint16_t>(std::stoi(*py_port))));
  EXPECT_EQ(py->read_line(5s), "sent");
  EXPECT_EQ(py->read_line(5s), "pong:ping-0");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(DatagramSocketTest, TruncationIsAnErrorAndMsgTruncGivesTheRealLength) {
  auto sock = DatagramSocket::bind(reactor(), Address::loopback_v4(0));
  ASSERT_TRUE(sock);
  auto py = start_pinger(*sock->local_address(), 2, 100);
  ASSERT_TRUE(py);
  ASSERT_TRUE(py->read_line(5s));
  ASSERT_EQ(py->read_line(5s), "sent");
  std::array<std::byte, 10> small{};
  auto first = run([&]() -> Task<Result<Datagram>> { co_return co_await sock->recv_from(small); }());
  auto second = run([&]() -> Task<Result<Datagram>> { co_return co_await sock->recv_from(small, MSG_TRUNC); }());
  ASSERT_FALSE(first) << "a 100-byte datagram came back as " << first->size << " bytes";
  EXPECT_EQ(first.error(), std::errc::message_size) << first.error().message();
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_EQ(as_chars(ConstBytes(small.data(), 6)), "ping-1");  // the next datagram, not the rest of the first
  EXPECT_TRUE(second->truncated);
  EXPECT_EQ(second->size, 10u);
  EXPECT_EQ(second->length, 100u);
}

TEST_P(DatagramSocketTest, BatchesMoveManyDatagramsPerCallAndReachEverySender) {
  constexpr int kCount = 50;
  auto sock = DatagramSocket::bind(reactor(), Address::loopback_v4(0));
  ASSERT_TRUE(sock);
  auto py = start_pinger(*sock->local_address(), kCount);
  ASSERT_TRUE(py);
  ASSERT_TRUE(py->read_line(5s));
  ASSERT_EQ(py->read_line(5s), "sent");  // all are queued before the first receive

  std::vector<std::array<std::byte, 2048>> storage(64);
  std::vector<MutableBytes> buffers(storage.begin(), storage.end());
  std::vector<Datagram> received(64);
  std::set<std::string> seen;
  std::vector<std::size_t> batch_sizes;
  auto ok = run([&]() -> Task<bool> {
    for (int round = 0; round < kCount && seen.size() < kCount; ++round) {
      auto n = co_await sock->recv_batch(buffers, received);
      if (!n) co_return false;
      batch_sizes.push_back(*n);
      std::vector<std::string> replies;
      std::vector<OutgoingDatagram> out;
      replies.reserve(*n);
      for (std::size_t i = 0; i < *n; ++i) {
        seen.insert(text_of(storage[i], received[i].size));
        replies.push_back("pong:" + text_of(storage[i], received[i].size));
      }
      for (std::size_t i = 0; i < *n; ++i) out.push_back({as_bytes(replies[i]), &received[i].sender});
      auto sent = co_await sock->send_batch(out);
      if (!sent || *sent != *n) co_return false;
    }
    co_return true;
  }());
  EXPECT_TRUE(ok);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kCount));
  ASSERT_FALSE(batch_sizes.empty());
  EXPECT_GT(batch_sizes.front(), 1u) << "recvmmsg took one datagram although " << kCount << " were queued";
  std::set<std::string> replies;
  for (int i = 0; i < kCount; ++i)
    if (auto line = py->read_line(5s)) replies.insert(*line);
  EXPECT_EQ(replies.size(), static_cast<std::size_t>(kCount));
  EXPECT_TRUE(replies.count("pong:ping-0") && replies.count("pong:ping-49"));
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(DatagramSocketTest, ConnectedSocketTalksToItsPeerAndIgnoresStrangers) {
  // The peer: Python echoes one datagram back to whoever sent it.
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.bind(('127.0.0.1', 0))
print(s.getsockname()[1], flush=True)
d, a = s.recvfrom(100); s.sendto(b'echo:' + d, a)
)"});
  ASSERT_TRUE(py);
  auto port = py->read_line(5s);
  ASSERT_TRUE(port);
  auto sock = DatagramSocket::connect(reactor(), Address::loopback_v4(static_cast<std::uint16_t>(std::stoi(*port))));
  ASSERT_TRUE(sock) << sock.error().message();
  auto stranger = DatagramSocket::open(reactor(), AF_INET);
  ASSERT_TRUE(stranger);
  std::array<std::byte, 2048> buffer{};
  auto got = run([&]() -> Task<Result<Datagram>> {
    // The stranger's datagram is sent first; a connected socket drops it (udp(7)), so the echo comes first.
    co_await stranger->send_to(as_bytes("stranger"), *sock->local_address());
    co_await sock->send(as_bytes("hello"));
    co_return co_await sock->recv(buffer);
  }());
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(text_of(buffer, got->size), "echo:hello");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(DatagramSocketTest, BroadcastNeedsSoBroadcast) {
  auto py = ChildProcess::spawn({python3(), "-c", R"(
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.bind(('0.0.0.0', 0))
print(s.getsockname()[1], flush=True)
d, a = s.recvfrom(100); print(d.decode(), flush=True)
)"});
  ASSERT_TRUE(py);
  auto port = py->read_line(5s);
  ASSERT_TRUE(port);
  auto broadcast = Address::parse("127.255.255.255:" + *port).value();
  auto sock = DatagramSocket::open(reactor(), AF_INET);
  ASSERT_TRUE(sock);
  auto refused = run([&]() -> Task<Result<std::size_t>> { co_return co_await sock->send_to(as_bytes("x"), broadcast); }());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), std::errc::permission_denied);
  ASSERT_FALSE(sock->set_broadcast(true));
  auto sent = run([&]() -> Task<Result<std::size_t>> { co_return co_await sock->send_to(as_bytes("to-all"), broadcast); }());
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(py->read_line(5s), "to-all");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(DatagramSocketTest, CallbackStyleReceivesAndAnswers) {
  auto sock = DatagramSocket::bind(reactor(), Address::loopback_v4(0));
  ASSERT_TRUE(sock);
  auto py = start_pinger(*sock->local_address(), 3);
  ASSERT_TRUE(py);
  ASSERT_TRUE(py->read_line(5s));
  ASSERT_EQ(py->read_line(5s), "sent");
  std::array<std::byte, 2048> buffer{};
  std::string reply;
  int answered = 0;
  std::error_code error;
  struct Loop {
    DatagramSocket& sock;
    std::array<std::byte, 2048>& buffer;
    std::string& reply;
    int& answered;
    std::error_code& error;
    void receive() {
      sock.async_recv_from(buffer, [this](Result<Datagram> d) {
        if (!d) {
          error = d.error();
          return;
        }
        reply = "pong:" + text_of(buffer, d->size);
        sock.async_send_to(as_bytes(reply), d->sender, [this](Result<std::size_t> n) {
          if (!n) error = n.error();
          ++answered;
          if (answered < 3) receive();
        });
      });
    }
  } loop{*sock, buffer, reply, answered, error};
  loop.receive();
  ASSERT_TRUE(run_until([&] { return answered == 3 || error; }));
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(py->read_line(5s), "pong:ping-0");
  EXPECT_EQ(py->read_line(5s), "pong:ping-1");
  EXPECT_EQ(py->read_line(5s), "pong:ping-2");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(DatagramSocketTest, CallbackBatchReceive) {
  auto sock = DatagramSocket::bind(reactor(), Address::loopback_v4(0));
  ASSERT_TRUE(sock);
  auto py = start_pinger(*sock->local_address(), 5);
  ASSERT_TRUE(py);
  ASSERT_TRUE(py->read_line(5s));
  ASSERT_EQ(py->read_line(5s), "sent");
  std::vector<std::array<std::byte, 2048>> storage(8);
  std::vector<MutableBytes> buffers(storage.begin(), storage.end());
  std::vector<Datagram> received(8);
  std::optional<Result<std::size_t>> got;
  sock->async_recv_batch(buffers, received, [&](Result<std::size_t> n) { got = n; });
  EXPECT_FALSE(got) << "a handler must not run inside the call that started its operation";
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_TRUE(*got);
  EXPECT_GE(**got, 1u);
  EXPECT_EQ(text_of(storage[0], received[0].size), "ping-0");
  py->terminate();
}

TEST_P(DatagramSocketTest, CloseCancelsPendingReceives) {
  auto sock = DatagramSocket::bind(reactor(), Address::loopback_v4(0));
  ASSERT_TRUE(sock);
  std::array<std::byte, 64> buffer{};
  std::vector<MutableBytes> buffers{MutableBytes(buffer)};
  std::vector<Datagram> received(1);
  std::optional<Result<Datagram>> single;
  std::optional<Result<std::size_t>> batch;
  sock->async_recv_from(buffer, [&](Result<Datagram> d) { single = std::move(d); });
  reactor().after(1ms, [&] { sock->close(); });
  auto b = run([&]() -> Task<Result<std::size_t>> { co_return co_await sock->recv_batch(buffers, received); }());
  batch = b;
  ASSERT_TRUE(run_until([&] { return single.has_value(); }));
  ASSERT_FALSE(*single);
  EXPECT_EQ(single->error(), std::errc::operation_canceled);
  ASSERT_FALSE(*batch);
  EXPECT_EQ(batch->error(), std::errc::operation_canceled);
}

RFARM_INSTANTIATE_BACKEND_TESTS(DatagramSocketTest);

}  // namespace rfarm::test

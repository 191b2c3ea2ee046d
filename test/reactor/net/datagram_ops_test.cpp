// Truncation (reactor/net/datagram_ops.*, fd_passing.*): a datagram or record longer than the receive buffer,
// or ancillary data larger than the control buffer, loses its tail in the kernel (MSG_TRUNC, MSG_CTRUNC). It
// must reach the caller as an error, never as a whole message: on seqpacket, Unix datagram and UDP sockets, for
// single and batched receives, on both backends.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/seqpacket_socket.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

using TruncationTest = BackendTest;

std::string text(ConstBytes bytes) { return std::string(as_chars(bytes)); }

// Sends one message of `data` carrying `count` copies of descriptor fd with a plain sendmsg, bypassing
// rfarm's own limit on descriptors per message (so the receiver's control buffer can be made too small).
bool send_with_raw_fds(int socket_fd, const std::string& data, int fd, std::size_t count) {
  std::vector<int> fds(count, fd);
  std::vector<std::byte> control(CMSG_SPACE(sizeof(int) * count));
  iovec iov{const_cast<char*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * count);
  if (count > 0) std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * count);  // no fds: data() may be null
  return ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

// One datagram or record to the connected peer, sent at once (the tests send little into empty queues).
bool send_now(const Socket& sock, const std::string& data) {
  return ::send(sock.native_handle(), data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size());
}

// A UDP socket bound to an ephemeral loopback port, and a second one connected to it.
struct UdpPair {
  DatagramSocket receiver;
  DatagramSocket sender;
};

Result<UdpPair> udp_pair(Reactor& reactor) {
  auto receiver = DatagramSocket::bind(reactor, Address::loopback_v4(0));
  if (!receiver) return fail(receiver.error());
  auto where = receiver->local_address();
  if (!where) return fail(where.error());
  auto sender = DatagramSocket::connect(reactor, *where);
  if (!sender) return fail(sender.error());
  return UdpPair{std::move(*receiver), std::move(*sender)};
}

// Receives one record / datagram into a buffer of `size` bytes; returns it, or the error.
template <class Sock>
Task<Result<std::string>> receive_text(Sock& sock, std::size_t size) {
  std::vector<std::byte> buffer(size);
  auto d = co_await sock.recv(buffer);
  if (!d) co_return fail(d.error());
  co_return text(ConstBytes(buffer.data(), d->size));
}

}  // namespace

TEST_P(TruncationTest, ASeqPacketRecordLongerThanTheBufferIsAnErrorAndTheNextRecordIsWhole) {
  auto pair = SeqPacketSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  std::string record(100, 'r');
  ASSERT_TRUE(send_now(a, record));
  ASSERT_TRUE(send_now(a, "next"));
  auto cut = run(receive_text(b, 10));
  ASSERT_FALSE(cut) << "a 100-byte record came back as " << cut->size() << " bytes, as if whole";
  EXPECT_EQ(cut.error(), std::errc::message_size) << cut.error().message();
  auto next = run(receive_text(b, 10));
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ(*next, "next");
}

TEST_P(TruncationTest, AUnixDatagramLongerThanTheBufferIsAnError) {
  auto pair = DatagramSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  ASSERT_TRUE(send_now(a, std::string(100, 'd')));
  ASSERT_TRUE(send_now(a, "next"));
  auto cut = run(receive_text(b, 10));
  ASSERT_FALSE(cut) << "a 100-byte datagram came back as " << cut->size() << " bytes";
  EXPECT_EQ(cut.error(), std::errc::message_size) << cut.error().message();
  auto next = run(receive_text(b, 10));
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ(*next, "next");
}

TEST_P(TruncationTest, AUdpDatagramLongerThanTheBufferIsAnError) {
  auto udp = udp_pair(reactor());
  ASSERT_TRUE(udp) << udp.error().message();
  ASSERT_TRUE(send_now(udp->sender, std::string(2000, 'u')));
  ASSERT_TRUE(send_now(udp->sender, "next"));
  auto cut = run(receive_text(udp->receiver, 1000));
  ASSERT_FALSE(cut) << "a 2000-byte datagram came back as " << cut->size() << " bytes";
  EXPECT_EQ(cut.error(), std::errc::message_size) << cut.error().message();
  auto next = run(receive_text(udp->receiver, 1000));
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ(*next, "next");
}

TEST_P(TruncationTest, CallbackStyleReportsTruncationToo) {
  auto pair = SeqPacketSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  ASSERT_TRUE(send_now(a, std::string(100, 'r')));
  std::array<std::byte, 10> buffer{};
  std::optional<Result<Datagram>> got;
  b.async_recv(buffer, [&](Result<Datagram> d) { got = d; });
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error(), std::errc::message_size);
}

TEST_P(TruncationTest, PeekWithMsgTruncGivesARecordsRealLengthAndKeepsIt) {
  // How a receiver sizes its buffer for a record of any size: peek the length (unix(7): MSG_TRUNC returns the
  // real length of a datagram or record), then take it whole.
  auto pair = SeqPacketSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  std::string record(100'000, 'p');
  ASSERT_TRUE(a.set(option::SendBufferSize(1 << 20)) == std::error_code{});
  ASSERT_TRUE(send_now(a, record));
  auto peeked =
      run([&]() -> Task<Result<Datagram>> { co_return co_await b.recv(MutableBytes{}, MSG_PEEK | MSG_TRUNC); }());
  ASSERT_TRUE(peeked) << peeked.error().message();
  EXPECT_EQ(peeked->length, record.size());
  EXPECT_TRUE(peeked->truncated);
  auto whole = run(receive_text(b, peeked->length));
  ASSERT_TRUE(whole) << whole.error().message();
  EXPECT_TRUE(*whole == record);
}

TEST_P(TruncationTest, UdpBatchMarksTheCutDatagramAndKeepsTheWholeOnes) {
  auto udp = udp_pair(reactor());
  ASSERT_TRUE(udp) << udp.error().message();
  for (const std::string& d : {std::string("first"), std::string(300, 'b'), std::string("third")})
    ASSERT_TRUE(send_now(udp->sender, d));
  std::vector<std::array<std::byte, 100>> storage(3);
  std::vector<MutableBytes> buffers(storage.begin(), storage.end());
  std::vector<Datagram> received(3);
  std::size_t total = 0;
  auto ok = run([&]() -> Task<std::error_code> {
    while (total < 3) {  // loopback queues all three before the first receive; a short batch just goes on
      auto n = co_await udp->receiver.recv_batch(std::span(buffers).subspan(total), std::span(received).subspan(total));
      if (!n) co_return n.error();
      total += *n;
    }
    co_return std::error_code{};
  }());
  ASSERT_FALSE(ok) << ok.message();
  ASSERT_EQ(total, 3u);
  EXPECT_FALSE(received[0].truncated);
  EXPECT_EQ(text(ConstBytes(storage[0].data(), received[0].size)), "first");
  EXPECT_FALSE(received[0].error());
  EXPECT_TRUE(received[1].truncated) << "a 300-byte datagram in a 100-byte buffer must be marked cut";
  EXPECT_EQ(received[1].error(), std::errc::message_size);
  EXPECT_FALSE(received[2].error());
  EXPECT_EQ(text(ConstBytes(storage[2].data(), received[2].size)), "third");
}

TEST_P(TruncationTest, UnixDatagramBatchMarksTheCutDatagram) {
  auto pair = DatagramSocket::pair(reactor());
  ASSERT_TRUE(pair);
  auto& [a, b] = *pair;
  ASSERT_TRUE(send_now(a, std::string(300, 'b')));
  ASSERT_TRUE(send_now(a, "whole"));
  std::vector<std::array<std::byte, 100>> storage(2);
  std::vector<MutableBytes> buffers(storage.begin(), storage.end());
  std::vector<Datagram> received(2);
  auto n = run([&]() -> Task<Result<std::size_t>> { co_return co_await b.recv_batch(buffers, received); }());
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 2u);
  EXPECT_EQ(received[0].error(), std::errc::message_size);
  EXPECT_FALSE(received[1].error());
  EXPECT_EQ(text(ConstBytes(storage[1].data(), received[1].size)), "whole");
}

TEST_P(TruncationTest, DescriptorsThatCameWithAPlainReceiveAreAnError) {
  // recv() has no control buffer: the kernel drops the descriptors and sets MSG_CTRUNC (scm_recv, unix(7)).
  for (int type : {SOCK_SEQPACKET, SOCK_DGRAM}) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    int pipe_fds[2];
    ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
    ASSERT_TRUE(send_with_raw_fds(fds[0], "with-fd", pipe_fds[0], 1));
    ASSERT_TRUE(send_with_raw_fds(fds[0], "next", pipe_fds[0], 0));
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::close(fds[0]);
    std::array<std::byte, 64> buffer{};
    Result<Datagram> first = fail(Errc::end_of_stream), second = fail(Errc::end_of_stream);
    if (type == SOCK_SEQPACKET) {
      SeqPacketSocket b = SeqPacketSocket::adopt(reactor(), fds[1]);
      first = run([&]() -> Task<Result<Datagram>> { co_return co_await b.recv(buffer); }());
      second = run([&]() -> Task<Result<Datagram>> { co_return co_await b.recv(buffer); }());
    } else {
      auto b = DatagramSocket::adopt(reactor(), fds[1]);
      ASSERT_TRUE(b);
      first = run([&]() -> Task<Result<Datagram>> { co_return co_await b->recv(buffer); }());
      second = run([&]() -> Task<Result<Datagram>> { co_return co_await b->recv(buffer); }());
    }
    ASSERT_FALSE(first) << (type == SOCK_SEQPACKET ? "seqpacket" : "dgram")
                        << ": a message whose descriptors were dropped came back as if whole";
    EXPECT_EQ(first.error(), make_error_code(Errc::control_truncated)) << first.error().message();
    ASSERT_TRUE(second) << second.error().message();
    EXPECT_EQ(text(ConstBytes(buffer.data(), second->size)), "next");
  }
}

TEST_P(TruncationTest, TooManyDescriptorsForTheControlBufferFailOnASeqPacket) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ASSERT_TRUE(send_with_raw_fds(fds[0], "many", pipe_fds[0], kMaxPassedFds + 3));
  ASSERT_TRUE(send_with_raw_fds(fds[0], "one", pipe_fds[0], 1));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ::close(fds[0]);
  SeqPacketSocket b = SeqPacketSocket::adopt(reactor(), fds[1]);
  std::array<std::byte, 64> buffer{};
  auto many = run([&]() -> Task<Result<MessageWithFds>> { co_return co_await b.recv_with_fds(buffer); }());
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error(), make_error_code(Errc::control_truncated));
  auto one = run([&]() -> Task<Result<MessageWithFds>> { co_return co_await b.recv_with_fds(buffer); }());
  ASSERT_TRUE(one) << one.error().message();
  EXPECT_EQ(text(ConstBytes(buffer.data(), one->size)), "one");
  EXPECT_EQ(one->fds.size(), 1u);
}

TEST_P(TruncationTest, ARecordWithDescriptorsLongerThanTheBufferIsAnError) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ASSERT_TRUE(send_with_raw_fds(fds[0], std::string(100, 'f'), pipe_fds[0], 1));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ::close(fds[0]);
  SeqPacketSocket b = SeqPacketSocket::adopt(reactor(), fds[1]);
  std::array<std::byte, 10> buffer{};
  auto got = run([&]() -> Task<Result<MessageWithFds>> { co_return co_await b.recv_with_fds(buffer); }());
  ASSERT_FALSE(got) << "a 100-byte record with a descriptor came back as " << got->size << " bytes";
  EXPECT_EQ(got.error(), std::errc::message_size) << got.error().message();
}

TEST_P(TruncationTest, ABatchMarksDescriptorsItHadNoRoomFor) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ASSERT_TRUE(send_with_raw_fds(fds[0], "with-fd", pipe_fds[0], 1));
  ASSERT_TRUE(send_with_raw_fds(fds[0], "plain", pipe_fds[0], 0));
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
  ::close(fds[0]);
  auto b = DatagramSocket::adopt(reactor(), fds[1]);
  ASSERT_TRUE(b);
  std::vector<std::array<std::byte, 100>> storage(2);
  std::vector<MutableBytes> buffers(storage.begin(), storage.end());
  std::vector<Datagram> received(2);
  auto n = run([&]() -> Task<Result<std::size_t>> { co_return co_await b->recv_batch(buffers, received); }());
  ASSERT_TRUE(n) << n.error().message();
  ASSERT_EQ(*n, 2u);
  EXPECT_EQ(received[0].error(), make_error_code(Errc::control_truncated));
  EXPECT_FALSE(received[1].error());
  EXPECT_EQ(text(ConstBytes(storage[1].data(), received[1].size)), "plain");
}

RFARM_INSTANTIATE_BACKEND_TESTS(TruncationTest);

}  // namespace rfarm::test

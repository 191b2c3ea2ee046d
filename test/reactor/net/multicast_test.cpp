// Multicast across hosts: two network namespaces joined by a veth pair; senders in one, receivers in the
// other (Python's socket module on one side where it can be). IPv4 and IPv6, any-source and source-specific
// membership, leaving a group, hop limit, loopback. Skips when namespaces cannot be made (not root).
#include <gtest/gtest.h>

#include <array>
#include <string>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/multicast.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/child_process.hpp"
#include "test/support/netns.hpp"

namespace rfarm::test {
namespace {

constexpr std::uint16_t kPort = 5000;  // the namespaces are private: a fixed port cannot collide

class MulticastTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    std::string why;
    auto made = VethNamespaces::create(std::string(to_string(GetParam())), &why);
    if (!made) GTEST_SKIP() << "cannot create network namespaces: " << why;
    net_.emplace(std::move(*made));
  }
  void TearDown() override {
    net_.reset();
    BackendTest::TearDown();
  }

  // A datagram socket made in the namespace, adopted by this test's reactor.
  DatagramSocket socket_in(Side side, int family) {
    auto fd = net_->socket_in(side, family, SOCK_DGRAM);
    EXPECT_TRUE(fd) << fd.error().message();
    if (!fd) return {};
    auto sock = DatagramSocket::adopt(reactor(), *fd);
    EXPECT_TRUE(sock);
    return sock ? std::move(*sock) : DatagramSocket{};
  }
  unsigned index(Side side) { return net_->interface_index(side).value_or(0); }

  Result<std::string> receive_text(DatagramSocket& sock, Address* sender = nullptr) {
    return run([&]() -> Task<Result<std::string>> {
      std::array<std::byte, 1500> buffer{};
      auto d = co_await sock.recv_from(buffer);
      if (!d) co_return fail(d.error());
      if (sender) *sender = d->sender;
      co_return std::string(as_chars(ConstBytes(buffer.data(), d->size)));
    }());
  }
  void send_text(DatagramSocket& sock, const std::string& text, const Address& to) {
    auto sent = run([&]() -> Task<Result<std::size_t>> { co_return co_await sock.send_to(as_bytes(text), to); }());
    EXPECT_TRUE(sent) << "send " << text << ": " << sent.error().message();
  }
  // Nothing more is queued (checked without waiting: everything sent before arrived before the last datagram).
  static bool queue_empty(DatagramSocket& sock) {
    char c;
    return ::recv(sock.native_handle(), &c, 1, MSG_DONTWAIT) < 0 && errno == EAGAIN;
  }

  std::optional<VethNamespaces> net_;
};

Address addr(const std::string& text) { return Address::parse(text).value(); }

}  // namespace

TEST_P(MulticastTest, AnySourceV4FromAPythonSenderThenLeaveStopsIt) {
  auto receiver = socket_in(Side::b, AF_INET);
  ASSERT_FALSE(receiver.bind_to(Address::any_v4(kPort)));
  Address group = addr("239.1.2.3:5000");
  ASSERT_FALSE(receiver.set(multicast::JoinGroup(group, index(Side::b))));
  // Phase 1: one datagram to the group. Phase 2 (after a line on stdin): the group again, then unicast.
  auto py = ChildProcess::spawn(net_->exec_in(Side::a, {python3(), "-c", R"(
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton('10.77.0.1'))
s.sendto(b'hello-v4', ('239.1.2.3', 5000)); print('sent', flush=True)
sys.stdin.readline()
s.sendto(b'after-leave', ('239.1.2.3', 5000)); s.sendto(b'unicast-marker', ('10.77.0.2', 5000))
print('sent', flush=True)
)"}));
  ASSERT_TRUE(py);
  ASSERT_EQ(py->read_line(5s), "sent");
  Address sender;
  EXPECT_EQ(receive_text(receiver, &sender), "hello-v4");
  EXPECT_EQ(sender.ip_string(), "10.77.0.1");

  ASSERT_FALSE(receiver.set(multicast::LeaveGroup(group, index(Side::b))));
  py->write("go\n");
  ASSERT_EQ(py->read_line(5s), "sent");
  EXPECT_EQ(receive_text(receiver), "unicast-marker") << "a datagram to the group arrived after leaving it";
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(MulticastTest, AnySourceV6ToAPythonReceiverWithOurHopLimit) {
  auto py = ChildProcess::spawn(net_->exec_in(Side::b, {python3(), "-c", R"(
import socket, struct
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(5)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('::', 5000))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
mreq = socket.inet_pton(socket.AF_INET6, 'ff15::1234') + struct.pack('@I', socket.if_nametoindex('veth-b'))
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
print('ready', flush=True)
data, anc, flags, sender = s.recvmsg(100, socket.CMSG_SPACE(4))
hops = [struct.unpack('@i', d)[0] for l, t, d in anc if t == socket.IPV6_HOPLIMIT]
print('%s from %s hops %s' % (data.decode(), sender[0], hops[0] if hops else '?'), flush=True)
)"}));
  ASSERT_TRUE(py);
  ASSERT_EQ(py->read_line(5s), "ready");
  auto sender = socket_in(Side::a, AF_INET6);
  ASSERT_FALSE(sender.bind_to(addr("[fd77::1]:0")));
  ASSERT_FALSE(sender.set(multicast::OutboundInterface(index(Side::a))));
  ASSERT_FALSE(sender.set(multicast::Hops(7)));
  auto hops = sender.get<multicast::Hops>();
  ASSERT_TRUE(hops);
  EXPECT_EQ(hops->value, 7);
  send_text(sender, "hello-v6", addr("[ff15::1234]:5000"));
  EXPECT_EQ(py->read_line(5s), "hello-v6 from fd77::1 hops 7");
  EXPECT_EQ(py->wait(5s), 0);
}

TEST_P(MulticastTest, SourceSpecificV4ReceivesOnlyTheListedSource) {
  Address group = addr("232.1.1.1:5000");
  auto ssm = socket_in(Side::b, AF_INET);
  auto any = socket_in(Side::b, AF_INET);
  ASSERT_FALSE(ssm.bind_to(Address::any_v4(kPort), {.reuse_address = true}));
  ASSERT_FALSE(any.bind_to(Address::any_v4(kPort), {.reuse_address = true}));
  ASSERT_FALSE(ssm.set(multicast::JoinSourceGroup(group, addr("10.77.0.1"), index(Side::b))));
  ASSERT_FALSE(any.set(multicast::JoinGroup(group, index(Side::b))));
  auto listed = socket_in(Side::a, AF_INET);
  auto unlisted = socket_in(Side::a, AF_INET);
  ASSERT_FALSE(listed.bind_to(addr("10.77.0.1:0")));
  ASSERT_FALSE(unlisted.bind_to(addr("10.77.0.3:0")));
  for (auto* s : {&listed, &unlisted}) ASSERT_FALSE(s->set(multicast::OutboundInterface(index(Side::a))));

  send_text(unlisted, "not-listed", group);
  send_text(listed, "listed", group);
  Address from;
  EXPECT_EQ(receive_text(ssm, &from), "listed");
  EXPECT_EQ(from.ip_string(), "10.77.0.1");
  EXPECT_TRUE(queue_empty(ssm)) << "a datagram from a source not joined was delivered";
  EXPECT_EQ(receive_text(any), "not-listed");
  EXPECT_EQ(receive_text(any), "listed");
}

TEST_P(MulticastTest, SourceSpecificV6ReceivesOnlyTheListedSource) {
  Address group = addr("[ff3e::8000:1]:5000");
  auto ssm = socket_in(Side::b, AF_INET6);
  auto any = socket_in(Side::b, AF_INET6);
  ASSERT_FALSE(ssm.bind_to(Address::any_v6(kPort), {.reuse_address = true}));
  ASSERT_FALSE(any.bind_to(Address::any_v6(kPort), {.reuse_address = true}));
  ASSERT_FALSE(ssm.set(multicast::JoinSourceGroup(group, addr("fd77::1"), index(Side::b))));
  ASSERT_FALSE(any.set(multicast::JoinGroup(group, index(Side::b))));
  auto listed = socket_in(Side::a, AF_INET6);
  auto unlisted = socket_in(Side::a, AF_INET6);
  ASSERT_FALSE(listed.bind_to(addr("[fd77::1]:0")));
  ASSERT_FALSE(unlisted.bind_to(addr("[fd77::3]:0")));
  for (auto* s : {&listed, &unlisted}) ASSERT_FALSE(s->set(multicast::OutboundInterface(index(Side::a))));

  send_text(unlisted, "not-listed", group);
  send_text(listed, "listed", group);
  Address from;
  EXPECT_EQ(receive_text(ssm, &from), "listed");
  EXPECT_EQ(from.ip_string(), "fd77::1");
  EXPECT_TRUE(queue_empty(ssm)) << "a datagram from a source not joined was delivered";
  EXPECT_EQ(receive_text(any), "not-listed");
  EXPECT_EQ(receive_text(any), "listed");
}

TEST_P(MulticastTest, LoopbackOptionControlsTheSendersOwnHost) {
  Address group = addr("239.9.9.9:5000");
  auto local = socket_in(Side::a, AF_INET);  // a receiver on the sending host
  ASSERT_FALSE(local.bind_to(Address::any_v4(kPort)));
  ASSERT_FALSE(local.set(multicast::JoinGroup(group, index(Side::a))));
  auto sender = socket_in(Side::a, AF_INET);
  ASSERT_FALSE(sender.set(multicast::OutboundInterface(index(Side::a))));
  ASSERT_FALSE(sender.set(multicast::Loopback(false)));
  EXPECT_FALSE(sender.get<multicast::Loopback>()->enabled());
  send_text(sender, "not-looped", group);
  ASSERT_FALSE(sender.set(multicast::Loopback(true)));
  EXPECT_TRUE(sender.get<multicast::Loopback>()->enabled());
  send_text(sender, "looped", group);
  EXPECT_EQ(receive_text(local), "looped");
  EXPECT_TRUE(queue_empty(local));
}

RFARM_INSTANTIATE_BACKEND_TESTS(MulticastTest);

}  // namespace rfarm::test

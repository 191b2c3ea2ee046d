// Typed socket options: set, read back, and the user-defined extension point.
#include <gtest/gtest.h>

#include "test/support/backend_fixture.hpp"
#include "reactor/net/socket_options.hpp"

namespace rfarm::test {
namespace {

using SocketOptionsTest = BackendTest;

TEST_P(SocketOptionsTest, NoDelayReadsBackWhatWasSet) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  StreamSocket& client = pair->first;
  ASSERT_FALSE(client.set_nodelay(true));
  EXPECT_TRUE(client.get<option::NoDelay>().value().enabled());
  ASSERT_FALSE(client.set_nodelay(false));
  EXPECT_FALSE(client.get<option::NoDelay>().value().enabled());
}

TEST_P(SocketOptionsTest, AcceptedTcpConnectionsHaveNoDelayByDefault) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  EXPECT_TRUE(pair->second.get<option::NoDelay>().value().enabled());
}

TEST_P(SocketOptionsTest, AcceptedConnectionsKeepNaglesAlgorithmWhenAskedTo) {
  ListenOptions options;
  options.nodelay = false;
  auto listener = listen_loopback(AddressFamily::ipv4, options);
  ASSERT_TRUE(listener);
  auto pair = run(connect_and_accept(*listener));
  ASSERT_TRUE(pair) << pair.error().message();
  EXPECT_FALSE(pair->second.get<option::NoDelay>().value().enabled());
}

TEST_P(SocketOptionsTest, KeepAliveAndItsTimingReadBack) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  StreamSocket& s = pair->first;
  EXPECT_FALSE(s.get<option::KeepAlive>().value().enabled()) << "off by default";
  ASSERT_FALSE(s.set_keepalive(true));
  EXPECT_TRUE(s.get<option::KeepAlive>().value().enabled());
  ASSERT_FALSE(s.set(option::KeepAliveIdle(30)));
  ASSERT_FALSE(s.set(option::KeepAliveInterval(7)));
  ASSERT_FALSE(s.set(option::KeepAliveCount(4)));
  EXPECT_EQ(s.get<option::KeepAliveIdle>().value().value, 30);
  EXPECT_EQ(s.get<option::KeepAliveInterval>().value().value, 7);
  EXPECT_EQ(s.get<option::KeepAliveCount>().value().value, 4);
}

TEST_P(SocketOptionsTest, BufferSizesReadBackAsTheKernelAdjustsThem) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  StreamSocket& s = pair->first;
  ASSERT_FALSE(s.set(option::ReceiveBufferSize(64 * 1024)));
  // Linux doubles the value for its bookkeeping (socket(7)).
  EXPECT_EQ(s.get<option::ReceiveBufferSize>().value().value, 128 * 1024);
}

TEST_P(SocketOptionsTest, ListenerHasReuseAddressByDefault) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  EXPECT_TRUE(listener->get<option::ReuseAddress>().value().enabled());
}

// What a user adds without waiting for the library: an option class of their own.
struct SocketType : option::IntOption<SOL_SOCKET, SO_TYPE> {
  using IntOption::IntOption;
};

TEST_P(SocketOptionsTest, UserDefinedOptionWorksLikeABuiltInOne) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  EXPECT_EQ(pair->first.get<SocketType>().value().value, SOCK_STREAM);
}

TEST_P(SocketOptionsTest, OptionOfTheWrongProtocolFails) {
  auto pair = StreamSocket::pair(reactor());  // Unix-domain: no TCP options
  ASSERT_TRUE(pair);
  EXPECT_TRUE(pair->first.set_nodelay(true));
  EXPECT_FALSE(pair->first.get<option::NoDelay>().has_value());
}

// Every typed option added for issue 4 reads back what was set, on a fresh socket and on a connected one.
template <class O>
::testing::AssertionResult reads_back(Socket& s, O set, int expected) {
  if (std::error_code ec = s.set(set)) return ::testing::AssertionFailure() << "set: " << ec.message();
  auto got = s.get<O>();
  if (!got) return ::testing::AssertionFailure() << "get: " << got.error().message();
  if (got->value != expected) return ::testing::AssertionFailure() << "read back " << got->value << ", want " << expected;
  return ::testing::AssertionSuccess();
}

TEST_P(SocketOptionsTest, SocketLevelOptionsRoundTrip) {
  auto fresh = StreamSocket::open(reactor(), AF_INET);
  ASSERT_TRUE(fresh);
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  for (Socket* s : {static_cast<Socket*>(&*fresh), static_cast<Socket*>(&pair->first)}) {
    EXPECT_TRUE(reads_back(*s, option::Broadcast(true), 1));
    EXPECT_TRUE(reads_back(*s, option::OobInline(true), 1));
    EXPECT_TRUE(reads_back(*s, option::ReuseAddress(true), 1));
    EXPECT_TRUE(reads_back(*s, option::ReusePort(true), 1));
    EXPECT_TRUE(reads_back(*s, option::Mark(0x2a), 0x2a)) << "SO_MARK needs CAP_NET_ADMIN";
    EXPECT_TRUE(reads_back(*s, option::BusyPoll(50), 50));
    // The kernel doubles a buffer size for its bookkeeping (socket(7)).
    EXPECT_TRUE(reads_back(*s, option::SendBufferSize(32 * 1024), 64 * 1024));
    EXPECT_TRUE(reads_back(*s, option::Broadcast(false), 0));
  }
}

TEST_P(SocketOptionsTest, Ipv4OptionsRoundTrip) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Socket& s = pair->first;
  EXPECT_TRUE(reads_back(s, option::TimeToLive(17), 17));
  EXPECT_TRUE(reads_back(s, option::TypeOfService(0x10), 0x10));
  // On TCP the kernel keeps the two ECN bits of the TOS byte to itself.
  EXPECT_TRUE(reads_back(s, option::TypeOfService(0x13), 0x10));
  EXPECT_EQ(s.set(option::TimeToLive(0)), std::errc::invalid_argument);
}

TEST_P(SocketOptionsTest, Ipv6OptionsRoundTrip) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback here";
  auto fresh = StreamSocket::open(reactor(), AF_INET6);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(reads_back(*fresh, option::V6Only(true), 1));
  EXPECT_TRUE(reads_back(*fresh, option::V6Only(false), 0));
  auto pair = tcp_pair(AddressFamily::ipv6);
  ASSERT_TRUE(pair) << pair.error().message();
  Socket& s = pair->first;
  EXPECT_TRUE(reads_back(s, option::UnicastHops(9), 9));
  EXPECT_TRUE(reads_back(s, option::TrafficClass(0x20), 0x20));
  auto reset = s.set(option::UnicastHops(-1));  // -1: back to the route's default
  EXPECT_FALSE(reset);
  EXPECT_GT(s.get<option::UnicastHops>().value().value, 0);
}

TEST_P(SocketOptionsTest, StringAndStructOptionsRoundTrip) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Socket& s = pair->first;
  auto name = s.get<option::Congestion>();
  ASSERT_TRUE(name) << name.error().message();
  EXPECT_FALSE(name->value().empty());
  ASSERT_FALSE(s.set(option::Congestion(name->value())));
  EXPECT_EQ(s.get<option::Congestion>().value().value(), name->value());
  ASSERT_FALSE(s.set(option::Linger(true, std::chrono::seconds(7))));
  auto linger = s.get<option::Linger>();
  ASSERT_TRUE(linger);
  EXPECT_TRUE(linger->enabled());
  EXPECT_EQ(linger->timeout(), std::chrono::seconds(7));
  EXPECT_EQ(linger->length, sizeof(::linger));
}

TEST_P(SocketOptionsTest, PendingErrorIsReadableAsAnOption) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  EXPECT_EQ(pair->first.get<option::SocketError>().value().value, 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(SocketOptionsTest);

}  // namespace
}  // namespace rfarm::test

// Typed socket options: set, read back, and the user-defined extension point.
#include <gtest/gtest.h>

#include "test/reactor/backend_fixture.hpp"
#include "reactor/socket_options.hpp"

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

RFARM_INSTANTIATE_BACKEND_TESTS(SocketOptionsTest);

}  // namespace
}  // namespace rfarm::test

// A close takes effect when close() returns, not at the loop's next wait(): on io_uring the pending receive's
// request and the registered-file slot hold the socket's file, so until the kernel has dropped them the peer
// sees no end of stream (issue 15, "known corners"). Checked on both backends with the peer's descriptor,
// without running the loop again after the close.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <array>
#include <chrono>

#include "reactor/net/stream_socket.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm {
namespace {

using CloseEffectTest = test::BackendTest;

// Whether the peer's descriptor reads end of stream within `limit` (the loop is not run meanwhile).
bool peer_sees_end_of_stream(int fd, std::chrono::milliseconds limit) {
  pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
}

TEST_P(CloseEffectTest, PeerSeesEndOfStreamRightAfterCloseWithAReceivePending) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [ours, peer] = *pair;
  std::array<std::byte, 64> buffer{};
  Result<std::size_t> received = 0;
  bool done = false;
  ours.async_recv(buffer, [&](Result<std::size_t> n) {
    received = n;
    done = true;
  });
  reactor().run_once(Duration(0));  // the receive is in the kernel now (io_uring: submitted)
  ASSERT_FALSE(done);
  const int closed_fd = ours.native_handle();
  ours.close();
  // The descriptor is gone from the table at once...
  EXPECT_LT(::fcntl(closed_fd, F_GETFD), 0);
  // ...and so is the socket: the peer reads end of stream without another turn of our loop.
  EXPECT_TRUE(peer_sees_end_of_stream(peer.native_handle(), std::chrono::milliseconds(300)))
      << "the peer saw no end of stream: something still holds the closed socket open";
  ASSERT_TRUE(run_until([&] { return done; }));
  EXPECT_EQ(received.error(), std::errc::operation_canceled);
}

TEST_P(CloseEffectTest, PeerSeesEndOfStreamRightAfterCloseWithNothingPending) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [ours, peer] = *pair;
  reactor().run_once(Duration(0));
  ours.close();
  EXPECT_TRUE(peer_sees_end_of_stream(peer.native_handle(), std::chrono::milliseconds(300)));
}

RFARM_INSTANTIATE_BACKEND_TESTS(CloseEffectTest);

}  // namespace
}  // namespace rfarm

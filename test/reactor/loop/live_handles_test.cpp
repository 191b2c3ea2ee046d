// The live-handle check (issue 15, "known corners"): a socket, Timer or watch that outlives its reactor would use
// the destroyed reactor when it goes. Debug builds count them per reactor and ~Reactor aborts, naming how many of
// which kind are left, so the mistake is caught where it is made. Release builds (NDEBUG) count nothing: there
// these tests skip.
#include <gtest/gtest.h>
#include <poll.h>

#include <memory>
#include <optional>
#include <utility>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_listener.hpp"
#include "reactor/net/stream_socket.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm {
namespace {

using namespace std::chrono_literals;
using SocketPair = std::pair<StreamSocket, StreamSocket>;

class LiveHandlesTest : public test::BackendTest {
 protected:
  void SetUp() override {
#ifdef NDEBUG
    GTEST_SKIP() << "NDEBUG is set: release builds do not count live handles";
#endif
    GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child re-runs the binary: no forked io_uring state
    BackendTest::SetUp();
  }

  // A reactor of this test's backend, of the test's own (the death tests destroy it inside the child).
  std::unique_ptr<Reactor> another_reactor() {
    ReactorOptions options;
    options.backend = GetParam();
    return Reactor::create(options).value();
  }

  std::size_t count(HandleKind kind) { return reactor().live_handles(kind); }
};

TEST_P(LiveHandlesTest, EachKindIsCountedWhileAliveAndNotAfter) {
  {
    Timer timer(reactor());
    ReadinessWatch watch(reactor());
    auto listener = listen_loopback();
    ASSERT_TRUE(listener) << listener.error().message();
    auto pair = StreamSocket::pair(reactor());
    ASSERT_TRUE(pair) << pair.error().message();
    EXPECT_EQ(count(HandleKind::timer), 1u);
    EXPECT_EQ(count(HandleKind::watch), 1u);
    EXPECT_EQ(count(HandleKind::listener), 1u);
    EXPECT_EQ(count(HandleKind::socket), 2u);
    pair->first.close();  // a closed socket no longer needs its reactor
    EXPECT_EQ(count(HandleKind::socket), 1u);
    StreamSocket moved = std::move(pair->second);  // a move hands the count over
    EXPECT_EQ(count(HandleKind::socket), 1u);
  }
  run([](Reactor& r) -> Task<void> { co_await r.sleep(1ms); }(reactor()));
  for (HandleKind kind : {HandleKind::socket, HandleKind::listener, HandleKind::timer, HandleKind::watch})
    EXPECT_EQ(count(kind), 0u) << "kind " << static_cast<int>(kind);
}

TEST_P(LiveHandlesTest, AClosedSocketMayOutliveItsReactor) {
  auto other = another_reactor();
  auto pair = StreamSocket::pair(*other);
  ASSERT_TRUE(pair);
  pair->first.close();
  pair->second.close();
  other.reset();  // no abort: closing was the last thing they needed the reactor for
}

TEST_P(LiveHandlesTest, ReactorDestroyedBeforeATimerAbortsAndSaysSo) {
  EXPECT_DEATH(
      {
        auto other = another_reactor();
        // Leaked on purpose: destroying it after the reactor would be the use-after-free.
        [[maybe_unused]] auto* timer = new Timer(*other);
        other.reset();
      },
      "~Reactor: 1 Timer\\(s\\) or sleep\\(s\\) made from this reactor still alive");
}

TEST_P(LiveHandlesTest, ReactorDestroyedBeforeOpenSocketsAndAWatchAbortsAndCountsEach) {
  EXPECT_DEATH(
      {
        auto other = another_reactor();
        auto pair = StreamSocket::pair(*other);
        [[maybe_unused]] auto* sockets = new SocketPair(std::move(*pair));
        [[maybe_unused]] auto* watch = new ReadinessWatch(*other);
        other.reset();
      },
      "~Reactor: 2 open socket\\(s\\), 1 ReadinessWatch\\(es\\) made from this reactor still alive");
}

TEST_P(LiveHandlesTest, ReactorDestroyedBeforeAnOpenListenerAbortsAndSaysSo) {
  EXPECT_DEATH(
      {
        auto other = another_reactor();
        auto listener = StreamListener::listen(*other, Address::loopback_v4(0));
        [[maybe_unused]] auto* kept = new StreamListener(std::move(*listener));
        other.reset();
      },
      "~Reactor: 1 open listener\\(s\\) made from this reactor still alive");
}

RFARM_INSTANTIATE_BACKEND_TESTS(LiveHandlesTest);

}  // namespace
}  // namespace rfarm

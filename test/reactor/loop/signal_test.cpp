// Signals delivered through the loop (Reactor::on_signal, a signalfd).
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>

#include <vector>

#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

// on_signal blocks the signal for this thread; each test restores the mask it found, after the reactor (and
// with it the signalfd) is gone and the signal has been consumed.
class SignalTest : public BackendTest {
 protected:
  void SetUp() override {
    ::pthread_sigmask(SIG_SETMASK, nullptr, &saved_mask_);
    BackendTest::SetUp();
  }
  void TearDown() override {
    BackendTest::TearDown();
    // A signal a failing test left pending would kill the process once unblocked: consume it first.
    sigset_t ours;
    ::sigemptyset(&ours);
    ::sigaddset(&ours, SIGUSR1);
    ::sigaddset(&ours, SIGUSR2);
    timespec no_wait{};
    while (::sigtimedwait(&ours, nullptr, &no_wait) > 0) {
    }
    ::pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
  }

 private:
  sigset_t saved_mask_{};
};

TEST_P(SignalTest, OnSignalRunsTheHandlerFromTheLoop) {
  std::vector<int> received;
  ASSERT_FALSE(reactor().on_signal(SIGUSR1, [&](int signo) { received.push_back(signo); }));
  ASSERT_EQ(::raise(SIGUSR1), 0);  // blocked now: it waits in the signalfd instead of killing us
  EXPECT_TRUE(received.empty()) << "the handler must run from the loop, not from raise()";
  ASSERT_TRUE(run_until([&] { return !received.empty(); }));
  EXPECT_EQ(received, std::vector<int>{SIGUSR1});
}

TEST_P(SignalTest, OnSignalBlocksTheSignalForTheCallingThread) {
  ASSERT_FALSE(reactor().on_signal(SIGUSR1, [](int) {}));
  sigset_t mask;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  EXPECT_EQ(::sigismember(&mask, SIGUSR1), 1);
}

TEST_P(SignalTest, SignalSentToTheThreadWithPthreadKillIsDelivered) {
  int count = 0;
  ASSERT_FALSE(reactor().on_signal(SIGUSR2, [&](int) { ++count; }));
  ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR2), 0);
  ASSERT_TRUE(run_until([&] { return count == 1; }));
}

TEST_P(SignalTest, TwoSignalsReachTheirOwnHandlers) {
  int usr1 = 0;
  int usr2 = 0;
  ASSERT_FALSE(reactor().on_signal(SIGUSR1, [&](int) { ++usr1; }));
  ASSERT_FALSE(reactor().on_signal(SIGUSR2, [&](int) { ++usr2; }));
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_TRUE(run_until([&] { return usr2 == 1; }));
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_TRUE(run_until([&] { return usr1 == 1; }));
  EXPECT_EQ(usr2, 1);
}

TEST_P(SignalTest, SignalRaisedAgainAfterHandlingIsDeliveredAgain) {
  int count = 0;
  ASSERT_FALSE(reactor().on_signal(SIGUSR1, [&](int) { ++count; }));
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(::raise(SIGUSR1), 0);
    ASSERT_TRUE(run_until([&] { return count == i; }));
  }
}

TEST_P(SignalTest, InvalidSignalNumberIsRejected) {
  EXPECT_EQ(reactor().on_signal(0, [](int) {}), std::errc::invalid_argument);
  EXPECT_EQ(reactor().on_signal(NSIG, [](int) {}), std::errc::invalid_argument);
}

RFARM_INSTANTIATE_BACKEND_TESTS(SignalTest);

}  // namespace
}  // namespace rfarm::test

// Timers: Reactor::after / every / cancel, the caller-owned Timer, and the sleep awaitable.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

using ::testing::ElementsAre;
using TimerTest = BackendTest;

// Holds the thread without running the loop: slow set-up work between two turns (or before the first).
void busy_wait(Duration d) {
  Clock::time_point until = Clock::now() + d;
  while (Clock::now() < until) {
  }
}

TEST_P(TimerTest, AfterFiresInDeadlineOrder) {
  std::vector<int> fired;
  for (int ms : {30, 10, 20, 0, 5}) reactor().after(std::chrono::milliseconds(ms), [&fired, ms] { fired.push_back(ms); });
  ASSERT_TRUE(run_until([&] { return fired.size() == 5; }));
  EXPECT_THAT(fired, ElementsAre(0, 5, 10, 20, 30));
}

TEST_P(TimerTest, EqualDelaysFireInInsertionOrder) {
  // Each deadline is the clock at the call plus 5 ms: equal or later than the previous one, never earlier.
  std::vector<int> fired;
  for (int i = 0; i < 50; ++i) reactor().after(5ms, [&fired, i] { fired.push_back(i); });
  ASSERT_TRUE(run_until([&] { return fired.size() == 50; }));
  std::vector<int> expected(50);
  for (int i = 0; i < 50; ++i) expected[static_cast<std::size_t>(i)] = i;
  EXPECT_EQ(fired, expected);
}

TEST_P(TimerTest, TimerDoesNotFireBeforeItsDeadline) {
  Clock::time_point start = Clock::now();
  Clock::time_point fired_at{};
  reactor().after(20ms, [&] { fired_at = Clock::now(); });
  ASSERT_TRUE(run_until([&] { return fired_at != Clock::time_point{}; }));
  EXPECT_GE(fired_at - start, 20ms);
}

// The loop last turned (and cached now()) when the fixture made the reactor; 40 ms of set-up pass before the
// 20 ms timer is made. Measured from that stale now() it would be due at once.
TEST_P(TimerTest, DelaysTooLongForTheClockNeverFire) {
  // Duration::max() is how callers say "no limit" (BlockingClient::forever reaches the connect timer so).
  // now + Duration::max() overflows into the past; the deadline must saturate instead.
  bool fired_after = false;
  bool fired_timer = false;
  reactor().after(Duration::max(), [&] { fired_after = true; });
  Timer timer(reactor());
  timer.start(Duration::max(), [&] { fired_timer = true; });
  // Turns that never block: before the fix the wrapped deadline also made the loop's wait overflow (forever).
  for (int i = 0; i < 3; ++i) reactor().run_once(Duration(0));
  EXPECT_FALSE(fired_after);
  EXPECT_FALSE(fired_timer);
}

TEST_P(TimerTest, AfterMeasuresItsDelayFromTheCall) {
  busy_wait(40ms);
  Clock::time_point made = Clock::now();
  Clock::time_point fired_at{};
  reactor().after(20ms, [&] { fired_at = Clock::now(); });
  ASSERT_TRUE(run_until([&] { return fired_at != Clock::time_point{}; }));
  EXPECT_GE(fired_at - made, 20ms);
}

TEST_P(TimerTest, EveryMeasuresItsFirstPeriodFromTheCall) {
  busy_wait(40ms);
  Clock::time_point made = Clock::now();
  Clock::time_point first_tick{};
  TimerId id = reactor().every(20ms, [&] {
    if (first_tick == Clock::time_point{}) first_tick = Clock::now();
  });
  ASSERT_TRUE(run_until([&] { return first_tick != Clock::time_point{}; }));
  reactor().cancel(id);
  EXPECT_GE(first_tick - made, 20ms);
}

TEST_P(TimerTest, TimerStartMeasuresItsDelayFromTheCall) {
  Timer timer(reactor());
  busy_wait(40ms);
  Clock::time_point made = Clock::now();
  Clock::time_point fired_at{};
  timer.start(20ms, [&] { fired_at = Clock::now(); });
  ASSERT_TRUE(run_until([&] { return fired_at != Clock::time_point{}; }));
  EXPECT_GE(fired_at - made, 20ms);
}

TEST_P(TimerTest, SleepMeasuresItsDelayFromTheCall) {
  // block_on starts the task before its first turn, so the sleep begins after the busy wait in that turn.
  auto elapsed = run([](Reactor& r) -> Task<Duration> {
    busy_wait(40ms);
    Clock::time_point start = Clock::now();
    co_await r.sleep(20ms);
    co_return Clock::now() - start;
  }(reactor()));
  EXPECT_GE(elapsed, 20ms);
}

TEST_P(TimerTest, MakingATimerAdvancesNow) {
  busy_wait(10ms);
  Clock::time_point before = Clock::now();
  reactor().after(1h, [] {});
  EXPECT_TRUE(reactor().now() >= before) << "now() is the time the newest timer was measured from";
}

TEST_P(TimerTest, CancelPreventsFiring) {
  bool fired = false;
  bool other_fired = false;
  TimerId id = reactor().after(10ms, [&] { fired = true; });
  reactor().after(30ms, [&] { other_fired = true; });
  EXPECT_TRUE(reactor().cancel(id));
  ASSERT_TRUE(run_until([&] { return other_fired; }));
  EXPECT_FALSE(fired);
}

TEST_P(TimerTest, CancelTwiceReportsNotPendingTheSecondTime) {
  TimerId id = reactor().after(10ms, [] {});
  EXPECT_TRUE(reactor().cancel(id));
  EXPECT_FALSE(reactor().cancel(id));
  EXPECT_FALSE(reactor().cancel(0));
}

TEST_P(TimerTest, StaleIdDoesNotCancelTheSlotsNextTimer) {
  bool first = false;
  bool second = false;
  TimerId old_id = reactor().after(0ms, [&] { first = true; });
  ASSERT_TRUE(run_until([&] { return first; }));
  TimerId new_id = reactor().after(5ms, [&] { second = true; });  // reuses the freed slot
  EXPECT_NE(new_id, old_id);
  EXPECT_FALSE(reactor().cancel(old_id));
  ASSERT_TRUE(run_until([&] { return second; }));
}

TEST_P(TimerTest, EveryRepeatsUntilCancelled) {
  int ticks = 0;
  TimerId id = reactor().every(2ms, [&] { ++ticks; });
  ASSERT_TRUE(run_until([&] { return ticks >= 5; }));
  EXPECT_TRUE(reactor().cancel(id));
  int at_cancel = ticks;
  run_for(20ms);
  EXPECT_EQ(ticks, at_cancel);
}

TEST_P(TimerTest, EveryCanCancelItselfFromItsCallback) {
  int ticks = 0;
  std::string seen;
  TimerId id = 0;
  // The callback keeps using its own captures after cancelling itself (a typical "log and stop" callback);
  // the string is long enough to live on the heap, so AddressSanitizer sees a callback destroyed mid-call.
  id = reactor().every(2ms, [&, label = std::string(64, 'x')] {
    if (++ticks == 3) {
      EXPECT_TRUE(reactor().cancel(id));
      seen = label;
    }
  });
  ASSERT_TRUE(run_until([&] { return ticks >= 3; }));
  run_for(20ms);
  EXPECT_EQ(ticks, 3);
  EXPECT_EQ(seen, std::string(64, 'x'));
}

TEST_P(TimerTest, OneShotCallbackMayScheduleANewTimer) {
  bool second = false;
  reactor().after(1ms, [&] { reactor().after(1ms, [&] { second = true; }); });
  ASSERT_TRUE(run_until([&] { return second; }));
}

TEST_P(TimerTest, TenThousandTimersFireInDeadlineOrderAndCancelledOnesDoNot) {
  constexpr int kTimers = 10'000;
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> delay_us(0, 20'000);
  std::vector<Clock::time_point> deadlines(kTimers);
  std::vector<TimerId> ids(kTimers);
  std::vector<int> fired;  // indices, in firing order
  fired.reserve(kTimers);
  for (int i = 0; i < kTimers; ++i) {
    std::chrono::microseconds delay(delay_us(rng));
    ids[static_cast<std::size_t>(i)] = reactor().after(delay, [&fired, i] { fired.push_back(i); });
    // after() measured the delay from the clock at the call, which it left in now().
    deadlines[static_cast<std::size_t>(i)] = reactor().now() + delay;
  }
  int cancelled = 0;
  for (int i = 0; i < kTimers; i += 3) {
    ASSERT_TRUE(reactor().cancel(ids[static_cast<std::size_t>(i)]));
    ++cancelled;
  }
  ASSERT_TRUE(run_until([&] { return fired.size() == static_cast<std::size_t>(kTimers - cancelled); }));
  run_for(5ms);
  ASSERT_EQ(fired.size(), static_cast<std::size_t>(kTimers - cancelled));

  // Firing order is (deadline, insertion) order.
  std::vector<int> expected;
  for (int i = 0; i < kTimers; ++i)
    if (i % 3 != 0) expected.push_back(i);
  std::stable_sort(expected.begin(), expected.end(), [&](int a, int b) {
    return deadlines[static_cast<std::size_t>(a)] < deadlines[static_cast<std::size_t>(b)];
  });
  EXPECT_EQ(fired, expected);
}

TEST_P(TimerTest, TimerRestartReplacesThePendingExpiry) {
  Timer timer(reactor());
  std::vector<std::string> fired;
  timer.start(5ms, [&] { fired.push_back("first"); });
  timer.start(10ms, [&] { fired.push_back("second"); });
  ASSERT_TRUE(run_until([&] { return !fired.empty(); }));
  run_for(20ms);
  EXPECT_THAT(fired, ElementsAre("second"));
  EXPECT_FALSE(timer.armed());
}

TEST_P(TimerTest, TimerCancelPreventsFiring) {
  Timer timer(reactor());
  bool fired = false;
  timer.start(5ms, [&] { fired = true; });
  EXPECT_TRUE(timer.armed());
  timer.cancel();
  EXPECT_FALSE(timer.armed());
  run_for(20ms);
  EXPECT_FALSE(fired);
}

TEST_P(TimerTest, TimerCanRestartItselfFromItsCallback) {
  Timer timer(reactor());
  int ticks = 0;
  std::function<void()> tick = [&] {
    if (++ticks < 3) timer.start(1ms, [&] { tick(); });
  };
  timer.start(1ms, [&] { tick(); });
  ASSERT_TRUE(run_until([&] { return ticks == 3; }));
  run_for(10ms);
  EXPECT_EQ(ticks, 3);
}

// The running callback's own captures must survive a start() with a new callback from inside it (they used
// to be overwritten in place) and the destruction of the timer's owner.
TEST_P(TimerTest, CallbackKeepsItsCapturesWhenItRestartsTheTimer) {
  Timer timer(reactor());
  std::vector<std::string> fired;
  std::string tag = "first callback, long enough to live on the heap";
  timer.start(1ms, [&, tag] {
    timer.start(1ms, [&, other = std::string("second callback, also longer than a small string")] {
      fired.push_back(other);
    });
    fired.push_back(tag);  // after the restart: reads this closure's capture
  });
  ASSERT_TRUE(run_until([&] { return fired.size() == 2; }));
  EXPECT_THAT(fired, ElementsAre(tag, "second callback, also longer than a small string"));
}

TEST_P(TimerTest, CallbackMayDestroyTheTimersOwner) {
  struct Connection {
    explicit Connection(Reactor& r) : idle(r) {}
    Timer idle;
    std::string name = "a connection whose name is longer than a small string";
  };
  auto conn = std::make_unique<Connection>(reactor());
  std::string seen;
  conn->idle.start(1ms, [&, name = conn->name] {
    conn.reset();  // the idle timeout closes the connection, timer included
    seen = name;
  });
  ASSERT_TRUE(run_until([&] { return !seen.empty(); }));
  EXPECT_EQ(seen, "a connection whose name is longer than a small string");
}

TEST_P(TimerTest, DestroyingATimerCancelsIt) {
  bool fired = false;
  auto timer = std::make_unique<Timer>(reactor());
  timer->start(5ms, [&] { fired = true; });
  timer.reset();
  run_for(20ms);
  EXPECT_FALSE(fired);
}

TEST_P(TimerTest, SleepResumesNoEarlierThanItsDelay) {
  auto elapsed = run([](Reactor& r) -> Task<Duration> {
    Clock::time_point start = r.now();
    co_await r.sleep(20ms);
    co_return Clock::now() - start;
  }(reactor()));
  EXPECT_GE(elapsed, 20ms);
}

TEST_P(TimerTest, SleepOfZeroDoesNotSuspend) {
  std::uint64_t turns_before = reactor().stats().turns;
  run([](Reactor& r) -> Task<void> { co_await r.sleep(0ms); }(reactor()));
  EXPECT_EQ(reactor().stats().turns, turns_before);
}

TEST_P(TimerTest, ConcurrentSleepsWakeInDeadlineOrder) {
  std::vector<int> woke;
  auto sleeper = [](Reactor& r, std::vector<int>& out, int ms) -> Task<void> {
    co_await r.sleep(std::chrono::milliseconds(ms));
    out.push_back(ms);
  };
  for (int ms : {30, 10, 20}) reactor().spawn(sleeper(reactor(), woke, ms));
  ASSERT_TRUE(run_until([&] { return woke.size() == 3; }));
  EXPECT_THAT(woke, ElementsAre(10, 20, 30));
}

RFARM_INSTANTIATE_BACKEND_TESTS(TimerTest);

}  // namespace
}  // namespace rfarm::test

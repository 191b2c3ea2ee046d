// The loop itself: run / stop / post across threads, spawn and block_on, destruction with suspended tasks,
// the spin (latency) mode, and that a reactor on the backend it asked for reports no fallback.
#include <gmock/gmock.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

using ::testing::HasSubstr;
using ReactorTest = BackendTest;

// Guards a blocking Reactor::run() on this thread: if the loop has not returned within the limit (a lost
// wake-up), the watchdog requests a stop and interrupts the blocked wait with a signal (EINTR), so the test
// fails instead of hanging.
class LoopWatchdog {
 public:
  LoopWatchdog(Reactor& reactor, Duration limit) : reactor_(reactor), target_(::pthread_self()) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};  // no SA_RESTART: the blocked wait returns EINTR
    ::sigaction(SIGURG, &sa, &previous_);
    thread_ = std::thread([this, limit] {
      std::unique_lock lock(mutex_);
      if (cv_.wait_for(lock, limit, [this] { return dismissed_; })) return;
      fired_ = true;
      reactor_.stop();
      while (!cv_.wait_for(lock, 50ms, [this] { return dismissed_; })) ::pthread_kill(target_, SIGURG);
    });
  }
  ~LoopWatchdog() {
    dismiss();
    ::sigaction(SIGURG, &previous_, nullptr);
  }
  // Call once the guarded run() has returned; true if the watchdog had to break the loop.
  bool dismiss() {
    {
      std::lock_guard lock(mutex_);
      dismissed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    return fired_;
  }

 private:
  Reactor& reactor_;
  pthread_t target_;
  struct sigaction previous_ {};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool dismissed_ = false;
  bool fired_ = false;
  std::thread thread_;
};

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

TEST_P(ReactorTest, PostFromAnotherThreadWakesABlockedLoop) {
  bool ran = false;
  LoopWatchdog watchdog(reactor(), 5s);
  std::thread poster([&] {
    std::this_thread::sleep_for(20ms);  // let run() block first: no timers, so it waits without limit
    reactor().post([&] {
      ran = true;
      reactor().stop();
    });
  });
  reactor().run();
  poster.join();
  EXPECT_FALSE(watchdog.dismiss()) << "run() did not wake up for the posted work";
  EXPECT_TRUE(ran);
}

TEST_P(ReactorTest, PostThenStopFromAnotherThreadRunsTheWorkAndReturns) {
  std::atomic<bool> ran = false;
  LoopWatchdog watchdog(reactor(), 5s);
  std::thread poster([&] {
    std::this_thread::sleep_for(20ms);
    reactor().post([&] { ran = true; });
    reactor().stop();
  });
  reactor().run();
  poster.join();
  EXPECT_FALSE(watchdog.dismiss()) << "run() did not return after post + stop";
  // stop() ends run() after the current turn; the posted work was queued before it, so it ran in that turn.
  EXPECT_TRUE(ran);
}

TEST_P(ReactorTest, StopFromAnotherThreadEndsRun) {
  LoopWatchdog watchdog(reactor(), 5s);
  std::thread stopper([&] {
    std::this_thread::sleep_for(20ms);
    reactor().stop();
  });
  reactor().run();
  stopper.join();
  EXPECT_FALSE(watchdog.dismiss()) << "run() did not return after stop() from another thread";
}

TEST_P(ReactorTest, StopBeforeRunEndsRunAfterOneTurn) {
  LoopWatchdog watchdog(reactor(), 5s);
  reactor().stop();
  reactor().run();
  EXPECT_FALSE(watchdog.dismiss());
}

TEST_P(ReactorTest, RunCanBeStartedAgainAfterStop) {
  int runs = 0;
  for (int i = 0; i < 2; ++i) {
    LoopWatchdog watchdog(reactor(), 5s);
    reactor().after(1ms, [&] {
      ++runs;
      reactor().stop();
    });
    reactor().run();
    EXPECT_FALSE(watchdog.dismiss());
  }
  EXPECT_EQ(runs, 2);
}

// A close made in the turn that stops the loop reaches the kernel when run() returns, not at the next run:
// the peer sees the end of the connection although this loop no longer turns (io_uring queues the cancel
// of the pending receive and the release of the registered descriptor as SQEs).
TEST_P(ReactorTest, ClosesMadeInTheLastTurnTakeEffectWhenRunReturns) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  reactor().spawn([](StreamSocket& s) -> Task<void> { (void)co_await s.recv_pooled(); }(server));
  run_for(5ms);  // the receive is in the kernel now
  reactor().post([&] {
    server.close();
    reactor().stop();
  });
  LoopWatchdog watchdog(reactor(), 5s);
  reactor().run();
  EXPECT_FALSE(watchdog.dismiss());
  pollfd p{client.native_handle(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1) << "the server's close never reached the kernel";
  char c;
  EXPECT_EQ(::recv(client.native_handle(), &c, 1, 0), 0);
}

TEST_P(ReactorTest, PostsFromManyThreadsAllRunInPerThreadOrder) {
  constexpr int kThreads = 4;
  constexpr int kPosts = 2000;
  std::vector<std::vector<int>> seen(kThreads);
  int total = 0;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) reactor().post([&, t, i] {
        seen[static_cast<std::size_t>(t)].push_back(i);
        ++total;
      });
    });
  }
  bool ok = run_until([&] { return total == kThreads * kPosts; }, 10s);
  for (auto& p : posters) p.join();
  ASSERT_TRUE(ok) << "ran " << total << " of " << kThreads * kPosts;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[static_cast<std::size_t>(t)].size(), static_cast<std::size_t>(kPosts));
    EXPECT_TRUE(std::is_sorted(seen[static_cast<std::size_t>(t)].begin(), seen[static_cast<std::size_t>(t)].end()));
  }
}

TEST_P(ReactorTest, PostFromTheLoopRunsOnALaterTurnNotInline) {
  bool ran = false;
  reactor().post([&] { ran = true; });
  EXPECT_FALSE(ran);
  ASSERT_TRUE(run_until([&] { return ran; }));
}

// A hook whose run counts itself and may schedule another (or itself again).
struct CountingHook : TurnHook {
  CountingHook(Reactor& r, TurnHook* n = nullptr) noexcept : TurnHook(&CountingHook::fire), reactor(r), next(n) {}
  static void fire(TurnHook& hook) noexcept {
    auto& self = static_cast<CountingHook&>(hook);
    ++self.runs;
    if (self.next != nullptr) self.reactor.at_end_of_turn(*self.next);
  }
  Reactor& reactor;
  TurnHook* next;
  int runs = 0;
};

// A hook scheduled by another (a dispatch that queues frames, whose SendQueue flushes in a hook of its own) runs
// in the same turn: before, it waited for the next turn, and the frame for the poll that started it.
TEST_P(ReactorTest, HookScheduledByAHookRunsInTheSameTurn) {
  CountingHook third(reactor());
  CountingHook second(reactor(), &third);
  CountingHook first(reactor(), &second);
  reactor().at_end_of_turn(first);
  const std::uint64_t turns = reactor().stats().turns;
  reactor().run_once(Duration(0));
  EXPECT_EQ(reactor().stats().turns, turns + 1);
  EXPECT_EQ(first.runs, 1);
  EXPECT_EQ(second.runs, 1) << "a hook scheduled by a hook waited for another turn";
  EXPECT_EQ(third.runs, 1);
  // Nothing was left for a coming turn: the next wait blocks (here: until the timer) instead of polling.
  bool fired = false;
  reactor().after(1ms, [&] { fired = true; });
  const std::uint64_t waits = reactor().stats().blocking_waits;
  reactor().run_once(Duration(-1));
  EXPECT_EQ(reactor().stats().blocking_waits, waits + 1);
  EXPECT_EQ(first.runs + second.runs + third.runs, 3);
}

// A hook that reschedules itself every time it runs does not hold the turn forever: it runs a bounded number of
// times per turn and again on the next.
TEST_P(ReactorTest, AHookReschedulingItselfEndsTheTurn) {
  CountingHook again(reactor());
  again.next = &again;
  reactor().at_end_of_turn(again);
  reactor().run_once(Duration(0));
  const int first_turn = again.runs;
  EXPECT_GE(first_turn, 1);
  EXPECT_LE(first_turn, 16);
  reactor().run_once(Duration(0));
  EXPECT_GT(again.runs, first_turn);
  again.next = nullptr;
  reactor().run_once(Duration(0));
}

TEST_P(ReactorTest, BlockOnReturnsTheTaskResult) {
  int value = reactor().block_on([](Reactor& r) -> Task<int> {
    co_await r.sleep(1ms);
    co_return 42;
  }(reactor()));
  EXPECT_EQ(value, 42);
}

TEST_P(ReactorTest, BlockOnRethrowsTheTaskException) {
  auto failing = [](Reactor& r) -> Task<int> {
    co_await r.sleep(1ms);
    throw std::runtime_error("boom");
  };
  EXPECT_THROW(reactor().block_on(failing(reactor())), std::runtime_error);
}

TEST_P(ReactorTest, BlockOnIsNotEndedByAStopThatARunOnceLoopAlreadySaw) {
  // A hand-written loop ends when run_once() returns false; unlike run(), it leaves the request set.
  reactor().stop();
  EXPECT_FALSE(reactor().run_once(Duration(0)));
  int value = run([](Reactor& r) -> Task<int> {
    co_await r.sleep(1ms);
    co_return 7;
  }(reactor()));
  EXPECT_EQ(value, 7);
  EXPECT_FALSE(reactor().stopping());
}

TEST_P(ReactorTest, BlockOnClearsAStopRequestedBeforeItStarted) {
  reactor().stop();
  run([](Reactor& r) -> Task<void> { co_await r.sleep(1ms); }(reactor()));
  EXPECT_FALSE(reactor().stopping());
}

TEST_P(ReactorTest, StopWhileBlockOnRunsEndsItWithAnException) {
  auto stops_itself = [](Reactor& r) -> Task<void> {
    r.after(1ms, [&r] { r.stop(); });
    co_await r.sleep(1h);
  };
  EXPECT_THROW(reactor().block_on(stops_itself(reactor())), std::runtime_error);
  EXPECT_TRUE(reactor().stopping()) << "the request stays set, as after a run_once() loop";
}

TEST_P(ReactorTest, SpawnStartsTheTaskAtOnce) {
  bool started = false;
  bool finished = false;
  auto body = [](Reactor& r, bool& s, bool& f) -> Task<void> {
    s = true;
    co_await r.sleep(1ms);
    f = true;
  };
  reactor().spawn(body(reactor(), started, finished));
  EXPECT_TRUE(started);
  EXPECT_FALSE(finished);
  ASSERT_TRUE(run_until([&] { return finished; }));
}

TEST_P(ReactorTest, SpawnedTaskExceptionIsLoggedAndTheLoopGoesOn) {
  bool other_finished = false;
  auto thrower = [](Reactor& r) -> Task<void> {
    co_await r.sleep(1ms);
    throw std::runtime_error("boom from a spawned task");
  };
  auto other = [](Reactor& r, bool& done) -> Task<void> {
    co_await r.sleep(5ms);
    done = true;
  };
  reactor().spawn(thrower(reactor()));
  reactor().spawn(other(reactor(), other_finished));
  ASSERT_TRUE(run_until([&] { return other_finished; }));
  std::string all;
  for (const std::string& line : log_lines()) all += line + "\n";
  EXPECT_THAT(all, HasSubstr("boom from a spawned task"));
}

// Sets a flag when destroyed: proves a coroutine frame was destroyed (its locals' destructors ran).
struct DestroyedFlag {
  explicit DestroyedFlag(bool& f) : flag(f) {}
  ~DestroyedFlag() { flag = true; }
  bool& flag;
};

TEST_P(ReactorTest, DestroyingTheReactorDestroysSuspendedSpawnedTasks) {
  ReactorOptions options;
  options.backend = GetParam();
  auto other = Reactor::create(options);
  ASSERT_TRUE(other);
  Reactor& r = **other;
  bool reader_destroyed = false;
  bool sleeper_destroyed = false;
  // One task waits for bytes that never come (a pending receive), one sleeps for an hour (a pending timer).
  r.spawn([](Reactor& loop, bool& destroyed) -> Task<void> {
    DestroyedFlag guard(destroyed);
    auto pair = StreamSocket::pair(loop);
    if (!pair) co_return;
    std::byte buffer[64];
    co_await pair->first.recv(buffer);
    ADD_FAILURE() << "the receive completed";
  }(r, reader_destroyed));
  r.spawn([](Reactor& loop, bool& destroyed) -> Task<void> {
    DestroyedFlag guard(destroyed);
    co_await loop.sleep(1h);
    ADD_FAILURE() << "the sleep completed";
  }(r, sleeper_destroyed));
  for (int i = 0; i < 3; ++i) r.run_once(Duration(0));
  EXPECT_FALSE(reader_destroyed);
  other->reset();  // AddressSanitizer reports the frames, sockets and timers if this leaks them
  EXPECT_TRUE(reader_destroyed);
  EXPECT_TRUE(sleeper_destroyed);
}

// Posted work that never ran and timers that never fired own their callbacks, and a callback may own a socket
// (reactor.post([conn = std::move(conn)] { ... })). Those callbacks are destroyed with the reactor, and their
// sockets close through its backend, so they must go while the backend still exists.
TEST_P(ReactorTest, DestroyingTheReactorReleasesPostedWorkAndTimersThatOwnSockets) {
  ReactorOptions options;
  options.backend = GetParam();
  auto other = Reactor::create(options);
  ASSERT_TRUE(other);
  Reactor& r = **other;
  auto pair = StreamSocket::pair(r);
  ASSERT_TRUE(pair);
  auto second_pair = StreamSocket::pair(r);
  ASSERT_TRUE(second_pair);
  bool posted_destroyed = false;
  bool timer_destroyed = false;
  r.post([sockets = std::move(*pair), guard = std::make_shared<DestroyedFlag>(posted_destroyed)] {
    ADD_FAILURE() << "posted work ran";
  });
  r.after(1h, [sockets = std::move(*second_pair), guard = std::make_shared<DestroyedFlag>(timer_destroyed)] {
    ADD_FAILURE() << "the timer fired";
  });
  other->reset();  // crashed here (a socket closed through the destroyed backend) before the fix
  EXPECT_TRUE(posted_destroyed);
  EXPECT_TRUE(timer_destroyed);
}

TEST_P(ReactorTest, NoSpinningUnlessSpinIsSet) {
  reactor().every(1ms, [] {});
  run_for(20ms);
  EXPECT_EQ(reactor().stats().spin_polls, 0u);
  EXPECT_GT(reactor().stats().blocking_waits, 0u);
}

class SpinModeTest : public BackendTest {
  void adjust_options(ReactorOptions& options) override { options.spin = 500us; }
};

TEST_P(SpinModeTest, SpinModeDeliversIoFromAnotherThread) {
  // The peer is a plain blocking socket served by a thread, so every reply arrives while the loop waits:
  // exactly what the spin window is for.
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  ASSERT_EQ(::fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
  StreamSocket ours = StreamSocket::adopt(reactor(), fds[0]);
  std::thread echo([peer = fds[1]] {
    char c;
    while (::read(peer, &c, 1) == 1)
      if (::write(peer, &c, 1) != 1) break;
    ::close(peer);
  });
  auto ping_pong = [](StreamSocket& s) -> Task<int> {
    int rounds = 0;
    std::byte byte[1];
    for (; rounds < 200; ++rounds) {
      if (!co_await s.send_all(as_bytes("x"))) break;
      if (auto n = co_await s.recv(byte); !n || *n != 1) break;
    }
    co_return rounds;
  };
  int rounds = run(ping_pong(ours));
  ours.shutdown(ShutdownHow::send);  // ends the echo thread
  echo.join();
  EXPECT_EQ(rounds, 200);
  EXPECT_GT(reactor().stats().spin_polls, 0u);
}

TEST_P(SpinModeTest, SpinModeStillSleepsWhenIdle) {
  // An idle loop with a 10 ms ticker: the spin window shrinks while it finds nothing, so nearly every turn
  // ends in a blocking wait and the thread uses a small fraction of a core (a spinning loop would use all).
  int ticks = 0;
  reactor().every(10ms, [&] { ++ticks; });
  run_for(30ms);  // let the window shrink
  Reactor::Stats before = reactor().stats();
  double cpu_before = thread_cpu_seconds();
  Clock::time_point wall_before = Clock::now();
  int ticks_before = ticks;
  run_for(300ms);
  double cpu = thread_cpu_seconds() - cpu_before;
  double wall = std::chrono::duration<double>(Clock::now() - wall_before).count();
  Reactor::Stats after = reactor().stats();

  std::uint64_t turns = after.turns - before.turns;
  std::uint64_t blocking = after.blocking_waits - before.blocking_waits;
  EXPECT_GE(ticks - ticks_before, 10);
  EXPECT_GE(blocking * 2, turns) << "most idle turns should block: " << blocking << " of " << turns;
  EXPECT_GT(after.spin_polls, before.spin_polls) << "spin mode did not poll at all";
  EXPECT_LT(cpu, 0.5 * wall) << "idle loop used " << cpu << " s of CPU in " << wall << " s";
}

TEST_P(ReactorTest, NoFallbackReasonWhenTheRequestedBackendRuns) {
  // The fixture skips a backend the kernel refuses, so here the reactor runs on the one asked for.
  EXPECT_FALSE(reactor().backend_fallback_reason()) << reactor().backend_fallback_reason().message();
}

RFARM_INSTANTIATE_BACKEND_TESTS(ReactorTest);
RFARM_INSTANTIATE_BACKEND_TESTS(SpinModeTest);

}  // namespace
}  // namespace rfarm::test

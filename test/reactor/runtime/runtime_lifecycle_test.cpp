// Runtime: threads, reactors per core, start / stop / join, pinning, teardown on each core's thread.
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <set>
#include <thread>

#include "test/reactor/runtime/runtime_fixture.hpp"

namespace rfarm::test {
namespace {

using RuntimeLifecycleTest = RuntimeTest;

TEST_P(RuntimeLifecycleTest, EachCoreRunsItsOwnReactorOnItsOwnThread) {
  auto rt = start_runtime({.threads = 3});
  ASSERT_EQ(rt->core_count(), 3u);
  std::set<std::thread::id> threads;
  for (unsigned core = 0; core < 3; ++core) {
    auto seen = call_on(*rt, core, [&rt] {
      return std::tuple{this_core(), std::this_thread::get_id(), &this_reactor(), this_reactor().backend_kind(),
                        this_runtime()};
    });
    EXPECT_EQ(std::get<0>(seen), core);
    EXPECT_NE(std::get<1>(seen), std::this_thread::get_id());
    threads.insert(std::get<1>(seen));
    EXPECT_EQ(std::get<2>(seen), &rt->reactor(core));
    EXPECT_EQ(std::get<3>(seen), GetParam());
    EXPECT_EQ(std::get<4>(seen), rt.get());
  }
  EXPECT_EQ(threads.size(), 3u) << "one thread per core";
  stop_and_join(*rt);
}

TEST_P(RuntimeLifecycleTest, TheCallingThreadIsNoCore) {
  auto rt = start_runtime();
  EXPECT_EQ(this_core(), kNotACore);
  EXPECT_EQ(this_runtime(), nullptr);
  stop_and_join(*rt);
}

TEST_P(RuntimeLifecycleTest, StartStopJoinRepeatedlyRunsWorkPostedMeanwhile) {
  auto rt = make_runtime();
  std::atomic<int> ran{0};
  for (int round = 0; round < 20; ++round) {
    // Posted while the loops do not run: it runs once they start.
    for (unsigned core = 0; core < rt->core_count(); ++core) rt->post(core, [&ran] { ran.fetch_add(1); });
    ASSERT_FALSE(rt->start()) << "round " << round;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (ran.load() < 2 * (round + 1) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_EQ(ran.load(), 2 * (round + 1)) << "round " << round;
    stop_and_join(*rt);
  }
}

TEST_P(RuntimeLifecycleTest, StartWhileRunningIsRefused) {
  auto rt = start_runtime();
  EXPECT_EQ(rt->start(), make_error_code(Errc::operation_in_progress));
  stop_and_join(*rt);
  EXPECT_FALSE(rt->start()) << "after join it may run again";
  stop_and_join(*rt);
}

TEST_P(RuntimeLifecycleTest, StopBeforeStartDoesNotEndTheNextRun) {
  auto rt = make_runtime();
  rt->stop();  // nothing runs: a no-op, not a stop request waiting for the first turn
  ASSERT_FALSE(rt->start());
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(rt->join_for(0ms)) << "the loops must still be running";
  EXPECT_EQ(call_on(*rt, 1, [] { return this_core(); }), 1u);
  stop_and_join(*rt);
}

TEST_P(RuntimeLifecycleTest, JoinForTimesOutWhileRunning) {
  auto rt = start_runtime();
  const auto begin = std::chrono::steady_clock::now();
  EXPECT_FALSE(rt->join_for(100ms));
  EXPECT_GE(std::chrono::steady_clock::now() - begin, 100ms);
  stop_and_join(*rt);
}

TEST_P(RuntimeLifecycleTest, StopFromACoreEndsEveryLoop) {
  auto rt = start_runtime();
  rt->post(1, [&rt] { rt->stop(); });
  EXPECT_TRUE(rt->join_for(5s));
}

TEST_P(RuntimeLifecycleTest, CoresArePinnedToTheAllowedCpusInOrder) {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs, this process may use " << cpus.size();
  auto rt = start_runtime({.threads = 2, .pin = true});
  for (unsigned core = 0; core < 2; ++core) {
    ASSERT_EQ(rt->cpu_of(core), cpus[core]);
    EXPECT_EQ(call_on(*rt, core, [] { return ::sched_getcpu(); }), cpus[core]);
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(call_on(*rt, core, [&set] { return ::sched_getaffinity(0, sizeof set, &set); }), 0);
    EXPECT_EQ(CPU_COUNT(&set), 1) << "core " << core << " may run on one CPU only";
  }
  stop_and_join(*rt);
}

TEST_P(RuntimeLifecycleTest, UnpinnedCoresKeepTheProcessAffinity) {
  auto rt = start_runtime({.threads = 2, .pin = false});
  EXPECT_FALSE(rt->cpu_of(0).has_value());
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(call_on(*rt, 0, [&set] { return ::sched_getaffinity(0, sizeof set, &set); }), 0);
  EXPECT_EQ(static_cast<std::size_t>(CPU_COUNT(&set)), allowed_cpus().size());
  stop_and_join(*rt);
}

TEST_P(RuntimeLifecycleTest, DefaultCoreCountIsTheAllowedCpus) {
  RuntimeOptions options;
  options.handle_signals = false;
  options.reactor.backend = GetParam();
  auto rt = Runtime::create(options);
  ASSERT_TRUE(rt) << rt.error().message();
  EXPECT_EQ((*rt)->core_count(), allowed_cpus().size());
}

// What a core built is destroyed on that core's thread, including frames still suspended at teardown.
TEST_P(RuntimeLifecycleTest, DestroyingARunningRuntimeTearsEachCoreDownOnItsThread) {
  struct NotesThread {
    std::atomic<std::thread::id>* where;
    ~NotesThread() {
      if (where) where->store(std::this_thread::get_id());
    }
    NotesThread(std::atomic<std::thread::id>* w) : where(w) {}
    NotesThread(NotesThread&& o) noexcept : where(std::exchange(o.where, nullptr)) {}
  };
  std::atomic<std::thread::id> destroyed_on{};
  std::thread::id core_thread;
  {
    auto rt = start_runtime();
    core_thread = call_on(*rt, 1, [] { return std::this_thread::get_id(); });
    rt->post(1, [&destroyed_on] {
      this_reactor().spawn([](NotesThread note) -> Task<void> {
        co_await this_reactor().sleep(std::chrono::hours(1));  // suspended at teardown
        (void)note;
      }(NotesThread(&destroyed_on)));
    });
    std::this_thread::sleep_for(20ms);
  }  // no stop(): the destructor stops, joins and tears down
  EXPECT_EQ(destroyed_on.load(), core_thread);
}

TEST_P(RuntimeLifecycleTest, UnrunMessagesAreDestroyedOnTheTargetCoreAtTeardown) {
  struct NotesThread {
    std::atomic<std::thread::id>* where;
    explicit NotesThread(std::atomic<std::thread::id>* w) : where(w) {}
    NotesThread(NotesThread&& o) noexcept : where(std::exchange(o.where, nullptr)) {}
    ~NotesThread() {
      if (where) where->store(std::this_thread::get_id());
    }
  };
  std::atomic<std::thread::id> destroyed_on{};
  std::atomic<bool> ran{false};
  std::thread::id target_thread;
  {
    auto rt = start_runtime();
    target_thread = call_on(*rt, 1, [] { return std::this_thread::get_id(); });
    // Core 1 stops the runtime and, in the same (last) turn, posts to itself: the message is published at
    // the end of that turn and never run, so it waits in the queue until teardown.
    call_on(*rt, 1, [&rt, &destroyed_on, &ran] {
      rt->stop();
      rt->post(1, [note = NotesThread(&destroyed_on), &ran] { ran = true; });
    });
    ASSERT_TRUE(rt->join_for(5s));
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(destroyed_on.load(), target_thread);
}

RFARM_INSTANTIATE_RUNTIME_TESTS(RuntimeLifecycleTest);

}  // namespace
}  // namespace rfarm::test

// co_await runtime.offload(fn) and the callback form: on a worker, back on the calling core, batched
// completions, and backpressure that keeps the loop responsive.
#include "reactor/runtime/offload.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>

#include "test/reactor/runtime/runtime_fixture.hpp"

namespace rfarm::test {
namespace {

using OffloadTest = RuntimeTest;

TEST_P(OffloadTest, RunsOnAWorkerAndResumesOnTheCallingCore) {
  auto rt = start_runtime();
  struct Seen {
    unsigned fn_core;
    std::thread::id fn_thread;
    std::thread::id core_thread;
    unsigned resumed_on;
  };
  Seen seen = run_on<Seen>(*rt, 1, [&]() -> Task<Seen> {
    Seen s{};
    s.core_thread = std::this_thread::get_id();
    auto [core, thread] = co_await rt->offload([] { return std::pair{this_core(), std::this_thread::get_id()}; });
    s.fn_core = core;
    s.fn_thread = thread;
    s.resumed_on = this_core();
    EXPECT_EQ(std::this_thread::get_id(), s.core_thread);
    co_return s;
  });
  EXPECT_EQ(seen.fn_core, kNotACore) << "the function runs on a worker, not a core";
  EXPECT_NE(seen.fn_thread, seen.core_thread);
  EXPECT_EQ(seen.resumed_on, 1u);
  stop_and_join(*rt);
}

TEST_P(OffloadTest, ValuesVoidMoveOnlyAndExceptionsComeBack) {
  auto rt = start_runtime();
  run_on<void>(*rt, 0, [&]() -> Task<void> {
    EXPECT_EQ(co_await rt->offload([] { return 6 * 7; }), 42);
    std::atomic<bool> ran{false};
    co_await rt->offload([&ran] { ran = true; });
    EXPECT_TRUE(ran.load());
    auto p = co_await rt->offload([] { return std::make_unique<std::string>("moved"); });
    EXPECT_EQ(*p, "moved");
    bool caught = false;
    try {
      co_await rt->offload([]() -> int { throw std::out_of_range("worker threw"); });
    } catch (const std::out_of_range& e) {
      caught = std::string(e.what()) == "worker threw" && this_core() == 0;
    }
    EXPECT_TRUE(caught);
  });
  stop_and_join(*rt);
}

TEST_P(OffloadTest, TheCallbackFormRunsOnTheCallingCore) {
  auto rt = start_runtime();
  Handoff<std::pair<int, unsigned>> result;
  Handoff<bool> error_seen;
  call_on(*rt, 1, [&] {
    rt->offload([] { return 9; }, [&result](OffloadResult<int> r) { result.set({r.value_or(-1), this_core()}); });
    rt->offload([]() -> int { throw std::runtime_error("x"); },
                [&error_seen](OffloadResult<int> r) { error_seen.set(!r.has_value() && r.error() != nullptr); });
  });
  EXPECT_EQ(result.wait(5s), (std::pair<int, unsigned>{9, 1u}));
  EXPECT_EQ(error_seen.wait(5s), true);
  stop_and_join(*rt);
}

// Completions that pile up while the core is busy are delivered in one go, with at most a wake-up or two.
TEST_P(OffloadTest, ManyCompletionsCostFewWakeups) {
  static constexpr int kCalls = 1000;
  auto rt = start_runtime({.threads = 2, .workers = 2});
  std::atomic<int> done{0}, ran{0};
  std::this_thread::sleep_for(20ms);
  const std::uint64_t before = rt->stats(0).wakeups;
  call_on(*rt, 0, [&] {
    for (int i = 0; i < kCalls; ++i)
      rt->offload([&ran] { return ran.fetch_add(1) >= 0 ? 1 : 0; }, [&done](OffloadResult<int> r) { done += *r; });
    // Idle workers are woken at the end of this turn, for the whole batch. Keep the core busy in the next
    // turn until they have run everything: the completions pile up meanwhile.
    rt->post(0, [&ran] {
      const auto limit = std::chrono::steady_clock::now() + 10s;
      while (ran.load() != kCalls && std::chrono::steady_clock::now() < limit) std::this_thread::sleep_for(1ms);
    });
  });
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (done.load() != kCalls && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(done.load(), kCalls);
  EXPECT_EQ(rt->stats(0).completions_run, static_cast<std::uint64_t>(kCalls));
  EXPECT_LE(rt->stats(0).wakeups - before, 3u) << "completions are delivered in batches";
  stop_and_join(*rt);
}

// Over the limit, calls wait on their core; the loop keeps running (a timer fires on time meanwhile), and
// no more than the limit is ever in flight.
TEST_P(OffloadTest, BackpressureHoldsCallsOnTheCoreAndTheLoopStaysResponsive) {
  constexpr int kCalls = 40;
  constexpr std::size_t kLimit = 4;
  auto rt = start_runtime({.threads = 2, .workers = 1, .offload_limit = kLimit});
  struct Observed {
    std::size_t in_flight_at_start = 0, waiting_at_start = 0, max_in_flight = 0;
    Duration timer_lateness{};
    int completed = 0;
  };
  Observed o = run_on<Observed>(*rt, 0, [&]() -> Task<Observed> {
    auto obs = std::make_shared<Observed>();
    auto left = std::make_shared<int>(kCalls);
    for (int i = 0; i < kCalls; ++i)
      this_reactor().spawn([](Runtime& r, std::shared_ptr<Observed> obs, std::shared_ptr<int> left) -> Task<void> {
        co_await r.offload([] { std::this_thread::sleep_for(5ms); });  // blocking work: 200 ms in all
        ++obs->completed;
        --*left;
      }(*rt, obs, left));
    obs->in_flight_at_start = rt->offloads_in_flight();
    obs->waiting_at_start = rt->offloads_waiting();
    const auto sampler = this_reactor().every(1ms, [&r = *rt, obs] {
      obs->max_in_flight = std::max(obs->max_in_flight, r.offloads_in_flight());
    });
    const auto asked = Clock::now();
    co_await this_reactor().sleep(20ms);
    obs->timer_lateness = Clock::now() - asked - 20ms;
    while (*left > 0) co_await this_reactor().sleep(2ms);
    this_reactor().cancel(sampler);
    co_return *obs;
  }, 20s);
  EXPECT_EQ(o.in_flight_at_start, kLimit);
  EXPECT_EQ(o.waiting_at_start, kCalls - kLimit);
  EXPECT_LE(o.max_in_flight, kLimit);
  EXPECT_EQ(o.completed, kCalls);
  EXPECT_LT(o.timer_lateness, 50ms) << "the loop must keep running while calls wait";
  stop_and_join(*rt);
}

TEST_P(OffloadTest, OffloadingOffTheRuntimeThrowsLogicError) {
  auto rt = make_runtime();
  ReactorOptions options;
  options.backend = GetParam();
  auto lone = Reactor::create(options).value();
  EXPECT_THROW(lone->block_on([&]() -> Task<int> { co_return co_await rt->offload([] { return 1; }); }()),
               std::logic_error);
}

// Calls still running or queued when the runtime goes: not resumed, freed, nothing touched after free.
TEST_P(OffloadTest, DestroyingTheRuntimeWithCallsInFlightIsClean) {
  std::atomic<int> started{0};
  {
    auto rt = start_runtime({.threads = 2, .workers = 1, .offload_limit = 8});
    call_on(*rt, 0, [&] {
      for (int i = 0; i < 20; ++i)
        this_reactor().spawn([](Runtime& r, std::atomic<int>& s) -> Task<void> {
          co_await r.offload([&s] {
            s.fetch_add(1);
            std::this_thread::sleep_for(20ms);
          });
        }(*rt, started));
      rt->offload([] { std::this_thread::sleep_for(5ms); }, [](OffloadResult<void>) {});
    });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (started.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  }
  EXPECT_LT(started.load(), 20) << "the runtime waited for every queued call instead of dropping them";
}

RFARM_INSTANTIATE_RUNTIME_TESTS(OffloadTest);

}  // namespace
}  // namespace rfarm::test

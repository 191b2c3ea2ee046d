// co_await runtime.submit_to(core, fn): values, void, move-only values, exceptions, tasks, many at once.
#include "reactor/runtime/submit_to.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <thread>

#include "test/reactor/runtime/runtime_fixture.hpp"

namespace rfarm::test {
namespace {

using SubmitToTest = RuntimeTest;

TEST_P(SubmitToTest, RunsOnTheTargetAndReturnsTheValueOnTheCallingCore) {
  auto rt = start_runtime();
  auto [ran_on, resumed_on] = run_on<std::pair<unsigned, unsigned>>(*rt, 0, [&]() -> Task<std::pair<unsigned, unsigned>> {
    unsigned there = co_await rt->submit_to(1, [] { return this_core(); });
    co_return std::pair{there, this_core()};
  });
  EXPECT_EQ(ran_on, 1u);
  EXPECT_EQ(resumed_on, 0u);
  stop_and_join(*rt);
}

TEST_P(SubmitToTest, VoidFunctionsComplete) {
  auto rt = start_runtime();
  std::atomic<unsigned> ran_on{kNotACore};
  run_on<void>(*rt, 1, [&]() -> Task<void> { co_await rt->submit_to(0, [&] { ran_on = this_core(); }); });
  EXPECT_EQ(ran_on.load(), 0u);
  stop_and_join(*rt);
}

TEST_P(SubmitToTest, MoveOnlyResultsAreMovedBack) {
  auto rt = start_runtime();
  int value = run_on<int>(*rt, 0, [&]() -> Task<int> {
    std::unique_ptr<int> p = co_await rt->submit_to(1, [] { return std::make_unique<int>(42); });
    co_return *p;
  });
  EXPECT_EQ(value, 42);
  stop_and_join(*rt);
}

TEST_P(SubmitToTest, TheExceptionIsRethrownOnTheCallingCore) {
  auto rt = start_runtime();
  auto [what, caught_on] = run_on<std::pair<std::string, unsigned>>(*rt, 0, [&]() -> Task<std::pair<std::string, unsigned>> {
    try {
      co_await rt->submit_to(1, []() -> int { throw std::runtime_error("thrown on core 1"); });
    } catch (const std::runtime_error& e) {
      co_return std::pair{std::string(e.what()), this_core()};
    }
    co_return std::pair{std::string("no exception"), this_core()};
  });
  EXPECT_EQ(what, "thrown on core 1");
  EXPECT_EQ(caught_on, 0u);
  stop_and_join(*rt);
}

TEST_P(SubmitToTest, AFunctionReturningATaskRunsItOnTheTarget) {
  auto rt = start_runtime();
  unsigned ran_on = run_on<unsigned>(*rt, 0, [&]() -> Task<unsigned> {
    co_return co_await rt->submit_to(1, []() -> Task<unsigned> {
      co_await this_reactor().sleep(2ms);  // suspends on core 1
      co_return this_core();
    });
  });
  EXPECT_EQ(ran_on, 1u);
  bool threw = run_on<bool>(*rt, 0, [&]() -> Task<bool> {
    try {
      co_await rt->submit_to(1, []() -> Task<void> {
        co_await this_reactor().sleep(1ms);
        throw std::logic_error("task failed");
      });
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  });
  EXPECT_TRUE(threw);
  stop_and_join(*rt);
}

TEST_P(SubmitToTest, SubmitToTheCallingCoreRunsInALaterTurn) {
  auto rt = start_runtime();
  auto [value, core] = run_on<std::pair<int, unsigned>>(*rt, 1, [&]() -> Task<std::pair<int, unsigned>> {
    int v = co_await rt->submit_to(1, [] { return 5; });
    co_return std::pair{v, this_core()};
  });
  EXPECT_EQ(value, 5);
  EXPECT_EQ(core, 1u);
  stop_and_join(*rt);
}

TEST_P(SubmitToTest, ThousandsOfConcurrentCallsAllComplete) {
  constexpr int kCalls = 5000;
  auto rt = start_runtime({.threads = 3});
  std::uint64_t sum = run_on<std::uint64_t>(*rt, 0, [&]() -> Task<std::uint64_t> {
    auto total = std::make_shared<std::uint64_t>(0);
    auto left = std::make_shared<int>(kCalls);
    for (int i = 0; i < kCalls; ++i)
      this_reactor().spawn([](Runtime& r, int i, std::shared_ptr<std::uint64_t> total, std::shared_ptr<int> left) -> Task<void> {
        *total += co_await r.submit_to(1 + i % 2, [i] { return static_cast<std::uint64_t>(i); });
        --*left;
      }(*rt, i, total, left));
    while (*left > 0) co_await this_reactor().sleep(1ms);
    co_return *total;
  }, 30s);
  EXPECT_EQ(sum, std::uint64_t{kCalls} * (kCalls - 1) / 2);
  stop_and_join(*rt);
}

TEST_P(SubmitToTest, AwaitingOffTheRuntimeThrowsLogicError) {
  auto rt = make_runtime();
  ReactorOptions options;
  options.backend = GetParam();
  auto lone = Reactor::create(options).value();
  EXPECT_THROW(lone->block_on([&]() -> Task<int> { co_return co_await rt->submit_to(0, [] { return 1; }); }()),
               std::logic_error);
}

// The runtime goes away while a call is out: its block is freed by whichever side lets go last, and the
// suspended caller's frame is destroyed on its core (ASan / TSan builds check the memory).
TEST_P(SubmitToTest, DestroyingTheRuntimeWithCallsInFlightIsClean) {
  std::atomic<bool> started{false};
  {
    auto rt = start_runtime();
    rt->post(0, [&] {
      this_reactor().spawn([](Runtime& r, std::atomic<bool>& s) -> Task<void> {
        co_await r.submit_to(1, [&s] {
          s = true;
          std::this_thread::sleep_for(50ms);  // core 1 is busy while the runtime stops
          return 1;
        });
        ADD_FAILURE() << "resumed after the runtime stopped";
      }(*rt, started));
    });
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!started.load() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(started.load());
    rt->stop();
  }
}

RFARM_INSTANTIATE_RUNTIME_TESTS(SubmitToTest);

}  // namespace
}  // namespace rfarm::test

// when_all / when_any (lib/when_all.hpp): values, void, move-only results, exceptions, empty ranges, stack
// depth over 10,000 tasks that finish inline, and tasks that finish later on a reactor (both backends).
#include "lib/when_all.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"
#include "test/support/memory_stream.hpp"

namespace rfarm::test {
namespace {

Task<int> value(int v) { co_return v; }
Task<std::string> text(std::string s) { co_return s; }
Task<void> nothing(int& ran) {
  ++ran;
  co_return;
}
Task<std::unique_ptr<int>> boxed(int v) { co_return std::make_unique<int>(v); }
Task<int> throws(std::string what, int& ran) {
  ++ran;
  throw std::runtime_error(what);
  co_return 0;
}

TEST(WhenAllTest, TupleOfValuesInArgumentOrder) {
  auto [a, b, c] = run_now([]() -> Task<std::tuple<int, std::string, int>> {
    co_return co_await when_all(value(1), text("two"), value(3));
  }());
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, "two");
  EXPECT_EQ(c, 3);
}

TEST(WhenAllTest, VoidTasksGiveMonostate) {
  int ran = 0;
  auto result = run_now([](int& ran) -> Task<std::tuple<std::monostate, int, std::monostate>> {
    co_return co_await when_all(nothing(ran), value(7), nothing(ran));
  }(ran));
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(std::get<1>(result), 7);
}

TEST(WhenAllTest, MoveOnlyResults) {
  auto [p, q] = run_now([]() -> Task<std::tuple<std::unique_ptr<int>, std::unique_ptr<int>>> {
    co_return co_await when_all(boxed(4), boxed(5));
  }());
  ASSERT_TRUE(p && q);
  EXPECT_EQ(*p + *q, 9);

  std::vector<Task<std::unique_ptr<int>>> tasks;
  for (int i = 0; i < 3; ++i) tasks.push_back(boxed(i));
  auto all = run_now([](std::vector<Task<std::unique_ptr<int>>> t) -> Task<std::vector<std::unique_ptr<int>>> {
    co_return co_await when_all(std::move(t));
  }(std::move(tasks)));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(*all[2], 2);
}

TEST(WhenAllTest, EveryTaskRunsThenTheFirstExceptionInArgumentOrderIsRethrown) {
  int ran = 0;
  int finished = 0;
  auto counted = [](int& finished) -> Task<int> {
    ++finished;
    co_return 1;
  };
  try {
    run_now([&]() -> Task<void> {
      co_await when_all(counted(finished), throws("first", ran), counted(finished), throws("second", ran));
    }());
    FAIL() << "when_all did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_EQ(ran, 2) << "both failing tasks ran";
  EXPECT_EQ(finished, 2) << "the others ran to completion too";
}

TEST(WhenAllTest, RangeOfValuesAndOfVoid) {
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(value(i * i));
  auto squares = run_now([](std::vector<Task<int>> t) -> Task<std::vector<int>> {
    co_return co_await when_all(std::move(t));
  }(std::move(tasks)));
  EXPECT_EQ(squares, (std::vector<int>{0, 1, 4, 9, 16}));

  int ran = 0;
  std::vector<Task<void>> voids;
  for (int i = 0; i < 4; ++i) voids.push_back(nothing(ran));
  run_now([](std::vector<Task<void>> t) -> Task<void> { co_await when_all(std::move(t)); }(std::move(voids)));
  EXPECT_EQ(ran, 4);
}

TEST(WhenAllTest, EmptyRangeAndEmptyTupleAreReady) {
  auto none = run_now([]() -> Task<std::size_t> {
    std::vector<int> got = co_await when_all(std::vector<Task<int>>{});
    co_return got.size();
  }());
  EXPECT_EQ(none, 0u);
  auto empty = when_all();
  EXPECT_TRUE(empty.await_ready());
}

TEST(WhenAllTest, RangeRethrowsTheFirstFailure) {
  int ran = 0;
  std::vector<Task<int>> tasks;
  tasks.push_back(value(1));
  tasks.push_back(throws("a", ran));
  tasks.push_back(throws("b", ran));
  EXPECT_THROW(
      {
        try {
          run_now([](std::vector<Task<int>> t) -> Task<void> { co_await when_all(std::move(t)); }(std::move(tasks)));
        } catch (const std::runtime_error& e) {
          EXPECT_STREQ(e.what(), "a");
          throw;
        }
      },
      std::runtime_error);
  EXPECT_EQ(ran, 2);
}

// The stack depth each task runs at: the lowest and highest stack frame address seen across all of them.
// (A coroutine's own locals live in its heap frame; the function it calls runs on the stack.)
struct StackSpan {
  std::uintptr_t low = UINTPTR_MAX;
  std::uintptr_t high = 0;
  [[gnu::noinline]] void note() {
    auto at = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    low = std::min(low, at);
    high = std::max(high, at);
  }
};

Task<int> depth_probe(StackSpan& span, int v) {
  span.note();
  co_return v;
}

// 10,000 tasks that finish inline: each returns into when_all's loop rather than resuming the next from
// within itself, so the stack stays flat in every build (AddressSanitizer does not make symmetric transfer a
// tail call). Measured directly, not just "did not crash": every task runs at the same depth.
TEST(WhenAllTest, TenThousandInlineTasksKeepTheStackFlat) {
  constexpr int kTasks = 10'000;
  StackSpan span;
  std::vector<Task<int>> tasks;
  for (int i = 0; i < kTasks; ++i) tasks.push_back(depth_probe(span, i));
  auto values = run_now([](std::vector<Task<int>> t) -> Task<std::vector<int>> {
    co_return co_await when_all(std::move(t));
  }(std::move(tasks)));
  ASSERT_EQ(values.size(), static_cast<std::size_t>(kTasks));
  EXPECT_EQ(values.back(), kTasks - 1);
  EXPECT_LT(span.high - span.low, 4096u) << "tasks ran at different stack depths: they nest";
}

// Likewise a loop of 10,000 awaits of small when_alls that finish inline: the awaiter never suspends.
TEST(WhenAllTest, LoopOfInlineWhenAllsKeepsTheStackFlat) {
  StackSpan span;
  int sum = run_now([](StackSpan& span) -> Task<int> {
    int total = 0;
    for (int i = 0; i < 10'000; ++i) {
      auto [a, b] = co_await when_all(depth_probe(span, 1), depth_probe(span, 2));
      total += a + b;
    }
    co_return total;
  }(span));
  EXPECT_EQ(sum, 30'000);
  EXPECT_LT(span.high - span.low, 4096u);
}

TEST(WhenAnyTest, InlineTasksReportTheFirstInArgumentOrder) {
  auto first = run_now([]() -> Task<WhenAnyResult<int, std::string>> {
    co_return co_await when_any(value(5), text("x"));
  }());
  EXPECT_EQ(first.index, 0u);
  EXPECT_EQ(std::get<0>(first.value), 5);
}

TEST(WhenAnyTest, EmptyRangeIsRefused) { EXPECT_THROW((void)when_any(std::vector<Task<int>>{}), std::invalid_argument); }

// --- tasks that finish later, on a reactor --------------------------------------------------------------

using WhenAllReactorTest = BackendTest;

Task<int> after(Reactor& reactor, Duration delay, int v, std::vector<int>& order) {
  co_await reactor.sleep(delay);
  order.push_back(v);
  co_return v;
}

TEST_P(WhenAllReactorTest, WaitsForTasksThatFinishLaterInAnyOrder) {
  std::vector<int> order;
  auto [a, b, c] = run([](Reactor& r, std::vector<int>& order) -> Task<std::tuple<int, int, int>> {
    co_return co_await when_all(after(r, 30ms, 1, order), after(r, 10ms, 2, order), value(3));
  }(reactor(), order));
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 2);
  EXPECT_EQ(c, 3);
  EXPECT_EQ(order, (std::vector<int>{2, 1})) << "the tasks ran concurrently";
}

TEST_P(WhenAllReactorTest, ManyTasksMixingInlineAndLater) {
  std::vector<int> order;
  std::vector<Task<int>> tasks;
  for (int i = 0; i < 1000; ++i) tasks.push_back(i % 2 ? value(i) : after(reactor(), 1ms, i, order));
  auto values = run([](std::vector<Task<int>> t) -> Task<std::vector<int>> {
    co_return co_await when_all(std::move(t));
  }(std::move(tasks)));
  ASSERT_EQ(values.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], i);
  EXPECT_EQ(order.size(), 500u);
}

// A receive that ends when its socket is closed through the stop token.
Task<int> receive_until_stopped(StreamSocket& socket, std::stop_token stop) {
  std::stop_callback close_on_stop(stop, [&] { socket.close(); });
  std::array<std::byte, 16> buffer;
  auto got = co_await socket.recv(buffer);
  co_return got ? static_cast<int>(*got) : -1;
}

TEST_P(WhenAllReactorTest, WhenAnyReportsTheFirstToFinishAndStopsTheOthers) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::stop_source stop;
  std::vector<int> order;
  auto first = run([](Reactor& r, StreamSocket& idle, std::stop_source stop,
                      std::vector<int>& order) -> Task<WhenAnyResult<int, int>> {
    co_return co_await when_any(stop, receive_until_stopped(idle, stop.get_token()), after(r, 20ms, 42, order));
  }(reactor(), pair->first, stop, order));
  EXPECT_EQ(first.index, 1u);
  EXPECT_EQ(std::get<1>(first.value), 42);
  EXPECT_TRUE(stop.stop_requested());
  EXPECT_FALSE(pair->first.is_open()) << "the loser was stopped, and when_any waited for it";
}

TEST_P(WhenAllReactorTest, WhenAnyOverARangeWaitsForEveryTask) {
  std::vector<int> order;
  std::vector<Task<int>> tasks;
  tasks.push_back(after(reactor(), 40ms, 0, order));
  tasks.push_back(after(reactor(), 5ms, 1, order));
  tasks.push_back(after(reactor(), 20ms, 2, order));
  auto first = run([](std::vector<Task<int>> t) -> Task<WhenAnyRangeResult<int>> {
    co_return co_await when_any(std::move(t));
  }(std::move(tasks)));
  EXPECT_EQ(first.index, 1u);
  EXPECT_EQ(first.value, 1);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 0})) << "without a stop source, every task ran to its end first";
}

RFARM_INSTANTIATE_BACKEND_TESTS(WhenAllReactorTest);

}  // namespace
}  // namespace rfarm::test

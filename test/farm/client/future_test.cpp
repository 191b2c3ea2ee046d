// Future / Promise: fulfilled once, forced from any thread, failures as TaskExecutionError, then() chains.
#include "farm/client/future.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;

TEST(Future, FulfilledOnceFromAnotherThread) {
  Promise<int> p;
  Future<int> f = p.future();
  EXPECT_FALSE(f.fulfilled());
  EXPECT_FALSE(f.wait_for(10ms));
  std::thread t([p]() mutable { EXPECT_TRUE(p.fulfill(42)); });
  EXPECT_EQ(f.force(), 42);
  t.join();
  EXPECT_FALSE(p.fulfill(43));  // lparallel: a second fulfill does nothing
  EXPECT_EQ(f.force(), 42);
  EXPECT_TRUE(f.fulfilled());
}

TEST(Future, FailureThrowsTaskExecutionError) {
  Promise<int> p;
  p.fail({FailureKind::task_error, "boom", "explode"});
  try {
    p.future().force();
    FAIL() << "no exception";
  } catch (const TaskExecutionError& e) {
    EXPECT_EQ(e.kind(), FailureKind::task_error);
    EXPECT_EQ(e.remote_message(), "boom");
    EXPECT_EQ(e.task_name(), "explode");
    EXPECT_STREQ(e.what(), "task 'explode' failed (task_error): boom");
  }
  EXPECT_FALSE(p.future().wait().has_value());
}

TEST(Future, ThenChainsBeforeAndAfterFulfilment) {
  Promise<int> p;
  Future<int> doubled = p.future().then([](int v) { return v * 2; });
  Future<std::string> text = doubled.then([](int v) { return std::to_string(v); });
  EXPECT_FALSE(text.fulfilled());
  p.fulfill(21);
  EXPECT_EQ(text.force(), "42");
  EXPECT_EQ(p.future().then([](int v) { return v + 1; }).force(), 22);  // already fulfilled: runs at once
}

TEST(Future, ThenPassesFailuresThroughWithoutCallingFn) {
  Promise<int> p;
  bool called = false;
  Future<int> next = p.future().then([&](int v) {
    called = true;
    return v;
  });
  p.fail({FailureKind::bad_arguments, "no", "t"});
  EXPECT_THROW(next.force(), TaskExecutionError);
  EXPECT_FALSE(called);
}

TEST(Future, WhenAllWaitsForEveryFuture) {
  Promise<int> a;
  Promise<std::string> b;
  std::thread t([a, b]() mutable {
    std::this_thread::sleep_for(5ms);
    b.fulfill("x");
    a.fulfill(1);
  });
  auto [x, y] = when_all(a.future(), b.future());
  t.join();
  EXPECT_EQ(x, 1);
  EXPECT_EQ(y, "x");
}

}  // namespace
}  // namespace rfarm::farm

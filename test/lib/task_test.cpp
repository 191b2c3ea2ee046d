// Task<T>: lazy start, results, exceptions, ownership, and symmetric transfer (long chains of awaits run in
// constant stack). Driven by hand, without a reactor.
#include <gtest/gtest.h>
#include <pthread.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "lib/task.hpp"

namespace rfarm {
namespace {

// Starts a task and, since nothing here suspends for real, expects it to finish at once.
template <class T>
T run_sync(Task<T> task) {
  task.handle().resume();
  EXPECT_TRUE(task.done());
  return task.handle().promise().take();
}

// Runs fn on a thread with a deliberately small stack, so recursion that should not happen overflows it.
void run_on_small_stack(std::function<void()> fn, std::size_t stack_bytes = 512 * 1024) {
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setstacksize(&attr, stack_bytes);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  ASSERT_EQ(::pthread_create(&thread, &attr, trampoline, &fn), 0);
  ::pthread_join(thread, nullptr);
  ::pthread_attr_destroy(&attr);
}

Task<int> answer() { co_return 42; }
Task<void> set_flag(bool& flag) {
  flag = true;
  co_return;
}
Task<int> add_answers() { co_return co_await answer() + co_await answer(); }
Task<int> throws_logic_error() {
  throw std::logic_error("from inside the task");
  co_return 0;
}

TEST(TaskTest, ValueTaskReturnsItsValue) { EXPECT_EQ(run_sync(answer()), 42); }

TEST(TaskTest, VoidTaskRunsItsBody) {
  bool flag = false;
  run_sync(set_flag(flag));
  EXPECT_TRUE(flag);
}

TEST(TaskTest, TaskDoesNothingUntilStarted) {
  bool flag = false;
  Task<void> t = set_flag(flag);
  EXPECT_TRUE(t.valid());
  EXPECT_FALSE(t.done());
  EXPECT_FALSE(flag);
}

TEST(TaskTest, AwaitingATaskDeliversItsValueToTheAwaiter) { EXPECT_EQ(run_sync(add_answers()), 84); }

TEST(TaskTest, ExceptionIsRethrownInTheAwaiter) {
  auto catcher = []() -> Task<std::string> {
    try {
      co_await throws_logic_error();
    } catch (const std::logic_error& e) {
      co_return e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(run_sync(catcher()), "from inside the task");
}

TEST(TaskTest, ExceptionOfAVoidTaskIsRethrownInTheAwaiter) {
  auto thrower = []() -> Task<void> {
    throw std::runtime_error("void task failed");
    co_return;
  };
  auto outer = [&]() -> Task<bool> {
    try {
      co_await thrower();
    } catch (const std::runtime_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(run_sync(outer()));
}

TEST(TaskTest, UncaughtExceptionReachesTheDriver) { EXPECT_THROW(run_sync(throws_logic_error()), std::logic_error); }

TEST(TaskTest, MoveOnlyResultsAreMovedOut) {
  auto make = []() -> Task<std::unique_ptr<int>> { co_return std::make_unique<int>(5); };
  std::unique_ptr<int> p = run_sync(make());
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 5);
}

TEST(TaskTest, MovingATaskTransfersTheFrame) {
  Task<int> a = answer();
  Task<int> b = std::move(a);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(b.valid());
  EXPECT_EQ(run_sync(std::move(b)), 42);
}

TEST(TaskTest, DestroyingAnUnstartedTaskDestroysItsFrame) {
  auto shared = std::make_shared<int>(0);
  auto holds = [](std::shared_ptr<int> p) -> Task<int> { co_return *p; };
  {
    Task<int> t = holds(shared);
    EXPECT_EQ(shared.use_count(), 2) << "the parameter lives in the frame";
  }
  EXPECT_EQ(shared.use_count(), 1);
}

// Symmetric transfer runs in constant stack only when the compiler turns "resume the handle await_suspend
// returned" into a tail call. GCC 12 does that only with -foptimize-sibling-calls (-O2 and up) and not under
// AddressSanitizer; below that, every synchronous completion nests one more frame (measured here with GCC 12;
// the same limitation is reported in jbaldwin/libcoro#273).
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
constexpr const char* kNoTailCalls =
    "known toolchain limitation: this build (below -O2, or AddressSanitizer) does not make symmetric transfer a "
    "tail call, so synchronously completing Task chains grow the stack here";
#else
constexpr const char* kNoTailCalls = nullptr;
#endif

Task<int> one() { co_return 1; }

Task<long> loop_of_synchronous_awaits(int n) {
  long sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await one();
  co_return sum;
}

TEST(TaskTest, LoopOfSynchronousAwaitsRunsInConstantStack) {
  // Each awaited task finishes without suspending; without symmetric transfer every iteration would nest
  // one more resume() on the stack, and 100k of them overflow the small stack below.
  if (kNoTailCalls) GTEST_SKIP() << kNoTailCalls;
  long sum = 0;
  run_on_small_stack([&] { sum = run_sync(loop_of_synchronous_awaits(100'000)); });
  EXPECT_EQ(sum, 100'000);
}

Task<int> nested(int depth) {
  if (depth == 0) co_return 0;
  co_return 1 + co_await nested(depth - 1);
}

TEST(TaskTest, DeepChainOfNestedAwaitsRunsInConstantStack) {
  if (kNoTailCalls) GTEST_SKIP() << kNoTailCalls;
  int depth = 0;
  run_on_small_stack([&] { depth = run_sync(nested(100'000)); });
  EXPECT_EQ(depth, 100'000);
}

}  // namespace
}  // namespace rfarm

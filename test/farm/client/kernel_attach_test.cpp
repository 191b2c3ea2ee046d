// Kernel::attach on both backends: a coroutine on the test's own reactor awaits 1,000 results from a real
// farm-server while a 1 ms timer on the same reactor keeps firing (the loop is never blocked; no engine thread),
// and cancels one awaitable call.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "farm/client/kernel.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::test::FarmServerProcess;

// Each test: a real farm-server of the test's backend, and a reactor of its own (the coroutine's loop) with a
// 30-s watchdog that stops it, so a hung test fails (block_on throws) instead of waiting forever.
class KernelAttachTest : public rfarm::test::BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    auto started = FarmServerProcess::start(GetParam());
    ASSERT_TRUE(started) << "farm-server did not start (RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS)";
    server_.emplace(std::move(*started));
    auto created = Reactor::create({.backend = GetParam()});
    ASSERT_TRUE(created) << created.error().message();
    loop_ = std::move(*created);
    watchdog_ = loop_->after(30s, [this] { loop_->stop(); });
  }
  void TearDown() override {
    if (loop_) loop_->cancel(watchdog_);
    BackendTest::TearDown();
  }
  Reactor& loop() { return *loop_; }
  FarmServerProcess& server() { return *server_; }

  KernelOptions options(std::string server) {
    KernelOptions o;
    o.servers = {std::move(server)};
    o.log_level = LogLevel::error;
    o.backoff = {.initial = 5ms, .max = 50ms};
    return o;
  }
  // Polls (without blocking the loop) until the kernel has a ready server; false after 5 s.
  static Task<bool> wait_ready(Reactor& reactor, AttachedKernel& kernel) {
    for (int i = 0; i < 1000 && kernel.ready_connections() == 0; ++i) co_await reactor.sleep(5ms);
    co_return kernel.ready_connections() > 0;
  }

 private:
  std::optional<FarmServerProcess> server_;
  std::unique_ptr<Reactor> loop_;
  TimerId watchdog_{};
};

TEST_P(KernelAttachTest, CoroutineAwaitsAThousandResultsWhileTheLoopKeepsTicking) {
  Reactor& loop = this->loop();

  std::uint64_t ticks = 0;
  TimerId ticker = loop.every(1ms, [&] { ++ticks; });

  struct Outcome {
    bool ready = false;
    std::int64_t sum = 0;
    std::size_t values = 0;
    std::uint64_t ticks_while_waiting = 0;
    std::size_t completions_before_last_submit = 0;
  };
  auto job = [&]() -> Task<Outcome> {
    Outcome out;
    auto kernel = Kernel::attach(loop, options(server().spec()));
    if (!kernel) co_return out;
    out.ready = co_await wait_ready(loop, *kernel);
    if (!out.ready) co_return out;
    std::vector<RemoteCall<std::int64_t>> calls;
    calls.reserve(1000);
    for (std::int64_t i = 0; i < 999; ++i) calls.push_back(kernel->submit<std::int64_t>("add", i, 1));
    // The last one keeps the coroutine waiting at least 200 ms: the ticker must fire meanwhile.
    RemoteCall<Null> slow = kernel->submit<Null>("sleep_ms", 200);
    for (auto& c : calls) out.completions_before_last_submit += c.ready() ? 1 : 0;  // submits leave at turn end
    std::uint64_t ticks_before = ticks;
    for (auto& c : calls) {
      auto v = co_await c;
      if (v) {
        out.sum += *v;
        ++out.values;
      }
    }
    if (auto s = co_await slow) ++out.values;
    out.ticks_while_waiting = ticks - ticks_before;
    co_await kernel->close();
    co_return out;
  };
  Outcome out = loop.block_on(job());
  loop.cancel(ticker);
  ASSERT_TRUE(out.ready);
  EXPECT_EQ(out.values, 1000u);
  EXPECT_EQ(out.sum, 999 * 1000 / 2);  // 1 + 2 + ... + 999
  EXPECT_EQ(out.completions_before_last_submit, 0u);
  // 200 ms of waiting with a 1 ms ticker: a blocked loop would see none; a loaded machine still sees dozens.
  EXPECT_GE(out.ticks_while_waiting, 20u);
  EXPECT_EQ(server().terminate(), 0);
}

TEST_P(KernelAttachTest, AnAwaitableCallCanBeCancelled) {
  Reactor& loop = this->loop();
  auto job = [&]() -> Task<std::optional<FailureKind>> {
    auto kernel = Kernel::attach(loop, options(server().spec()));
    if (!kernel || !co_await wait_ready(loop, *kernel)) co_return std::nullopt;
    RemoteCall<Null> sleeper = kernel->submit<Null>("sleep_ms", 20'000);
    co_await loop.sleep(50ms);  // sent, and running on a worker
    if (!sleeper.cancel()) co_return std::nullopt;
    auto r = co_await sleeper;
    // The server's answer (sleep_ms sees should_stop) is dropped: the call was answered already.
    for (int i = 0; i < 400 && kernel->stats().answers_after_cancel == 0; ++i) co_await loop.sleep(5ms);
    std::optional<FailureKind> kind;
    if (!r && kernel->stats().answers_after_cancel == 1 && kernel->stats().cancels_sent == 1) kind = r.error().kind;
    co_await kernel->close();
    co_return kind;
  };
  std::optional<FailureKind> kind = loop.block_on(job());
  ASSERT_TRUE(kind);
  EXPECT_EQ(*kind, FailureKind::cancelled);
  EXPECT_EQ(server().terminate(), 0);
}

TEST_P(KernelAttachTest, SubmitWhenRoomKeepsUnsentTasksAtTheBound) {
  Reactor& loop = this->loop();
  struct Outcome {
    bool ready = false;
    std::size_t submitted = 0;
    std::size_t most_unsent = 0;
    std::size_t answered_when_done = 0;  // calls answered when the last submit_when_room returned
    std::size_t values = 0;
    std::error_code try_error;
    std::optional<FailureKind> waiter_kind;  // a producer still waiting for room when the kernel closes
  };
  Outcome out;
  KernelOptions o = options(server().spec());
  o.max_unsent = 4;
  o.window = 2;  // with one server: 2 in flight, 4 waiting, and the producer waits for the rest
  auto job = [&]() -> Task<void> {
    auto kernel = Kernel::attach(loop, o);
    if (!kernel || !(out.ready = co_await wait_ready(loop, *kernel))) co_return;
    std::vector<RemoteCall<Null>> calls;
    for (int i = 0; i < 40; ++i) {
      calls.push_back(co_await kernel->submit_when_room<Null>("sleep_ms", 2));
      ++out.submitted;
      out.most_unsent = std::max(out.most_unsent, kernel->unsent());
    }
    for (auto& c : calls) out.answered_when_done += c.ready() ? 1 : 0;
    for (auto& c : calls) out.values += (co_await c) ? 1 : 0;
    // Full within one turn (dispatch runs at its end): try_submit refuses rather than waits.
    std::vector<RemoteCall<Null>> more;
    while (kernel->unsent() < 4) more.push_back(kernel->submit<Null>("sleep_ms", 2));
    auto refused = kernel->try_submit<Null>("sleep_ms", 2);
    if (!refused) out.try_error = refused.error();
    // A producer waiting for room when the kernel closes: its call is answered `cancelled`.
    auto waiter = [&](AttachedKernel& k) -> Task<void> {
      RemoteCall<Null> call = co_await k.submit_when_room<Null>("sleep_ms", 2);
      auto r = co_await call;
      if (!r) out.waiter_kind = r.error().kind;
    };
    kernel->submit<Null>("sleep_ms", 2);  // over the bound (plain submit is not bounded): the waiter must wait
    loop.spawn(waiter(*kernel));
    co_await kernel->close();
    for (int i = 0; i < 100 && !out.waiter_kind; ++i) co_await loop.sleep(1ms);
  };
  loop.block_on(job());
  ASSERT_TRUE(out.ready);
  EXPECT_EQ(out.submitted, 40u);
  EXPECT_EQ(out.values, 40u);
  EXPECT_LE(out.most_unsent, 4u);
  // At most 4 unsent and 2 in flight when the 40th call got in: the producer waited for the rest to finish.
  EXPECT_GE(out.answered_when_done, 40u - 4u - 2u - 1u);
  EXPECT_EQ(out.try_error, std::errc::resource_unavailable_try_again);
  ASSERT_TRUE(out.waiter_kind);
  EXPECT_EQ(*out.waiter_kind, FailureKind::cancelled);
  EXPECT_EQ(server().terminate(), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelAttachTest);

}  // namespace
}  // namespace rfarm::farm

// Future::cancel and Channel::cancel on both backends: against FakeFarmServer (which reads Cancel frames and counts them but still
// answers, so the late Result must be dropped), with and without the `cancel` feature granted, a task cancelled
// before it was sent, an answer that beats the cancel; and against a real farm-server with one worker, where a
// queued task cancelled behind a long sleep_ms is answered `cancelled` by the server and never runs.
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "farm/client/channel.hpp"
#include "farm/client/kernel.hpp"
#include "test/farm/client/fake_farm_server.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::farm::test::FakeFarmServer;
using rfarm::test::FarmServerProcess;

// Polls pred until it holds or timeout passes.
bool eventually(const std::function<bool()>& pred, Duration timeout = 5s) {
  Clock::time_point until = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

class KernelCancelTest : public rfarm::test::BackendTest {
 protected:
  std::unique_ptr<FakeFarmServer> fake(std::uint64_t features = kAllFeatures) {
    auto s = std::make_unique<FakeFarmServer>(FakeFarmServer::Options{.backend = GetParam(), .port = 0, .refuse_reason = {}, .features = features});
    EXPECT_TRUE(s->ok());
    return s;
  }
  Kernel start(std::vector<std::string> servers) {
    KernelOptions o;
    o.servers = std::move(servers);
    o.backend = GetParam();
    o.log_level = LogLevel::error;
    o.backoff = {.initial = 5ms, .max = 50ms};
    o.call_timeout = 10s;
    auto k = Kernel::start(std::move(o));
    if (!k) throw std::runtime_error("Kernel::start: " + k.error().message());
    return std::move(*k);
  }
  static void expect_cancelled(const Future<Null>& f) {
    ASSERT_TRUE(f.wait_for(5s));
    auto r = f.wait();
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, FailureKind::cancelled);
    EXPECT_EQ(r.error().task, "sleep_ms");
  }
};

TEST_P(KernelCancelTest, InFlightTaskIsCancelledAtOnceAndItsLateResultIsDropped) {
  auto s = fake();
  Kernel kernel = start({s->spec()});
  Future<Null> f = kernel.future<Null>("sleep_ms", 300);
  ASSERT_TRUE(eventually([&] { return kernel.stats().in_flight == 1; }));
  EXPECT_TRUE(f.cancel());
  expect_cancelled(f);
  EXPECT_FALSE(f.cancel());  // already answered
  ASSERT_TRUE(eventually([&] { return s->cancels() == 1; })) << "no Cancel frame reached the server";
  // The fake answers the sleeper anyway: its Result is dropped and counted, never delivered.
  ASSERT_TRUE(eventually([&] { return kernel.stats().answers_after_cancel == 1; }));
  KernelStats st = kernel.stats();
  EXPECT_EQ(st.cancelled, 1u);
  EXPECT_EQ(st.cancels_sent, 1u);
  EXPECT_EQ(st.completed, 0u);
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(f.wait().error().kind, FailureKind::cancelled);
  // The connection's window is whole again: a new task goes through.
  EXPECT_EQ(kernel.future<std::int64_t>("add", 2, 3).force(), 5);
}

TEST_P(KernelCancelTest, NoCancelFrameToAServerThatDidNotGrantCancel) {
  auto s = fake(kAllFeatures & ~feature_bit(wire::Feature::cancel));
  Kernel kernel = start({s->spec()});
  Future<Null> f = kernel.future<Null>("sleep_ms", 200);
  ASSERT_TRUE(eventually([&] { return kernel.stats().in_flight == 1; }));
  EXPECT_TRUE(f.cancel());
  expect_cancelled(f);
  ASSERT_TRUE(eventually([&] { return kernel.stats().answers_after_cancel == 1; }));
  EXPECT_EQ(s->cancels(), 0u) << "a Cancel went to a server that did not grant the feature";
  EXPECT_EQ(kernel.stats().cancels_sent, 0u);
}

TEST_P(KernelCancelTest, TaskNotYetSentIsCancelledWithoutTouchingTheWire) {
  auto s = fake();
  s->freeze(true);  // no Welcome: the connection never becomes ready, the task stays pending
  Kernel kernel = start({s->spec()});
  Future<Null> f = kernel.future<Null>("sleep_ms", 1);
  ASSERT_TRUE(eventually([&] { return kernel.stats().pending == 1; }));
  EXPECT_TRUE(f.cancel());
  expect_cancelled(f);
  EXPECT_EQ(kernel.stats().pending, 0u);
  s->freeze(false);
  EXPECT_EQ(kernel.future<std::int64_t>("add", 1, 1).force(), 2);
  EXPECT_EQ(s->tasks_run(), 1u) << "the cancelled task reached the server";
  EXPECT_EQ(s->cancels(), 0u);
  EXPECT_EQ(kernel.stats().cancels_sent, 0u);
}

TEST_P(KernelCancelTest, AnAnswerThatArrivedFirstWins) {
  auto s = fake();
  Kernel kernel = start({s->spec()});
  Future<std::int64_t> f = kernel.future<std::int64_t>("add", 20, 22);
  EXPECT_EQ(f.force(), 42);
  EXPECT_FALSE(f.cancel());
  EXPECT_EQ(f.force(), 42);
  EXPECT_EQ(kernel.stats().cancelled, 0u);
  EXPECT_EQ(s->cancels(), 0u);
}

TEST_P(KernelCancelTest, CancelAfterTheKernelClosedIsANoOp) {
  auto s = fake();
  Future<Null> f = [&] {
    Kernel kernel = start({s->spec()});
    return kernel.future<Null>("sleep_ms", 10'000);
  }();
  expect_cancelled(f);  // the kernel closed
  EXPECT_FALSE(f.cancel());
}

TEST_P(KernelCancelTest, ChannelCancelAnswersEveryOutstandingTaskCancelled) {
  auto s = fake();
  Kernel kernel = start({s->spec()});
  Channel channel(kernel);
  EXPECT_FALSE(channel.cancel());  // nothing outstanding
  for (int i = 0; i < 3; ++i) channel.submit("sleep_ms", 300);
  ASSERT_TRUE(eventually([&] { return kernel.stats().in_flight == 3; }));
  EXPECT_TRUE(channel.cancel());
  for (int i = 0; i < 3; ++i) {
    auto r = channel.try_receive_outcome(5s);
    ASSERT_TRUE(r);
    ASSERT_FALSE(r->has_value());
    EXPECT_EQ(r->error().kind, FailureKind::cancelled);
  }
  EXPECT_EQ(channel.outstanding(), 0u);
  ASSERT_TRUE(eventually([&] { return s->cancels() == 3; }));
  ASSERT_TRUE(eventually([&] { return kernel.stats().answers_after_cancel == 3; }));
  EXPECT_EQ(channel.outstanding(), 0u);
  channel.submit("add", 1, 2);  // a late Result (null) that leaked into the channel would come out first
  EXPECT_EQ(channel.receive_result().as<std::int64_t>().value(), 3);
}

// lparallel's kill-tasks on lfarm's server: one worker busy with a long sleep, a second task queued behind it and
// cancelled; the server answers it Failure{cancelled} at once (the kernel drops that answer: it already answered
// the future), long before the worker would be free to run it.
TEST_P(KernelCancelTest, RealServerCancelsAQueuedTaskThatNeverRuns) {
  auto server = FarmServerProcess::start(GetParam(), "tcp:127.0.0.1:0", {}, /*workers=*/1);
  ASSERT_TRUE(server) << "farm-server did not start (RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS)";
  Kernel kernel = start({server->spec()});
  ASSERT_TRUE(kernel.wait_ready(1, 5s));
  Future<Null> busy = kernel.future<Null>("sleep_ms", 3000);
  Future<Null> queued = kernel.future<Null>("sleep_ms", 1);
  ASSERT_TRUE(eventually([&] { return kernel.stats().in_flight == 2; }));
  EXPECT_TRUE(queued.cancel());
  expect_cancelled(queued);
  ASSERT_TRUE(eventually([&] { return kernel.stats().answers_after_cancel == 1; }, 2s))
      << "the server did not answer the Cancel";
  EXPECT_FALSE(busy.fulfilled()) << "the worker was free: the test proves nothing";
  EXPECT_EQ(kernel.stats().cancels_sent, 1u);
  ASSERT_TRUE(busy.wait_for(10s));
  EXPECT_TRUE(busy.wait().has_value());
  EXPECT_EQ(kernel.stats().completed, 1u);  // the sleeper only
  EXPECT_EQ(server->terminate(), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelCancelTest);

}  // namespace
}  // namespace rfarm::farm

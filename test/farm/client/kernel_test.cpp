// The Kernel's blocking API end to end against FakeFarmServer (the real codec, real sockets), on both backends
// (the kernel's engine reactor runs on the backend under test): channels, futures, pmap order, broadcast, remote
// failures, obstinate connections (a kernel made before its servers, dropped connections, a frozen server) and
// the batching of submits.
#include "farm/client/kernel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <numeric>
#include <thread>

#include "farm/client/channel.hpp"
#include "farm/client/parallel.hpp"
#include "test/farm/client/fake_farm_server.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::farm::test::FakeFarmServer;

class KernelTest : public rfarm::test::BackendTest {
 protected:
  std::unique_ptr<FakeFarmServer> server(std::uint16_t port = 0) {
    auto s = std::make_unique<FakeFarmServer>(FakeFarmServer::Options{.backend = GetParam(), .port = port, .refuse_reason = {}});
    EXPECT_TRUE(s->ok());
    return s;
  }
  KernelOptions options(std::vector<std::string> servers) {
    KernelOptions o;
    o.servers = std::move(servers);
    o.backend = GetParam();
    o.log_level = LogLevel::error;
    o.backoff = {.initial = 5ms, .max = 50ms};
    o.call_timeout = 10s;
    return o;
  }
  Kernel start(KernelOptions o) {
    auto k = Kernel::start(std::move(o));
    if (!k) throw std::runtime_error("Kernel::start: " + k.error().message());
    return std::move(*k);
  }
};

TEST_P(KernelTest, ChannelSubmitAndReceiveInCompletionOrder) {
  auto s = server();
  Kernel kernel = start(options({s->spec()}));
  Channel channel(kernel);
  channel.submit("sleep_ms", 150);
  channel.submit("add", 2, 3);
  EXPECT_EQ(channel.outstanding(), 2u);
  EXPECT_EQ(channel.receive_result().as<std::int64_t>().value(), 5);  // the quick one first
  EXPECT_FALSE(channel.try_receive_result(10ms));                     // the sleeper is still asleep
  auto slow = channel.try_receive_result(5s);
  ASSERT_TRUE(slow);
  EXPECT_TRUE(slow->is_null());
  EXPECT_EQ(channel.outstanding(), 0u);
  auto nothing = channel.receive_outcome();  // nothing outstanding: no hang
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().kind, FailureKind::cancelled);
}

TEST_P(KernelTest, RemoteFailureIsTaskExecutionError) {
  auto s = server();
  Kernel kernel = start(options({s->spec()}));
  Channel channel(kernel);
  channel.submit("fail", "disk on fire");
  try {
    channel.receive_result();
    FAIL() << "no exception";
  } catch (const TaskExecutionError& e) {
    EXPECT_EQ(e.kind(), FailureKind::task_error);
    EXPECT_EQ(e.remote_message(), "disk on fire");
    EXPECT_EQ(e.task_name(), "fail");
  }
  auto f = kernel.future<std::int64_t>("no_such_task");
  auto r = f.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::unknown_task);
  // A result of the wrong type is a failure too, not a conversion.
  auto wrong = kernel.future<std::string>("add", 1, 2).wait();
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("expected string, got integer"), std::string::npos) << wrong.error().message;
}

TEST_P(KernelTest, PmapKeepsInputOrderAcrossTwoServers) {
  auto a = server();
  auto b = server();
  Kernel kernel = start(options({a->spec(), b->spec()}));
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  std::vector<std::tuple<std::int64_t, std::int64_t>> inputs;
  for (std::int64_t i = 0; i < 2000; ++i) inputs.emplace_back(i, 1000 * i);
  std::vector<std::int64_t> sums = pmap<std::int64_t>(kernel, "add", inputs);
  ASSERT_EQ(sums.size(), inputs.size());
  for (std::int64_t i = 0; i < 2000; ++i) ASSERT_EQ(sums[static_cast<std::size_t>(i)], 1001 * i);
  EXPECT_GT(a->tasks_run(), 0u);  // both servers took work
  EXPECT_GT(b->tasks_run(), 0u);
  EXPECT_EQ(a->tasks_run() + b->tasks_run(), 2000u);
  EXPECT_EQ(pmap_reduce<std::int64_t>(kernel, "add", inputs, std::plus<>(), std::int64_t{0}),
            1001 * (1999 * 2000 / 2));
  EXPECT_EQ(preduce<std::int64_t>(kernel, "add", std::vector<std::int64_t>{1, 2, 3, 4, 5}), 15);
}

TEST_P(KernelTest, BroadcastRunsOnceOnEveryServer) {
  auto a = server();
  auto b = server();
  Kernel kernel = start(options({a->spec(), b->spec()}));
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  std::vector<TaskResult> results = kernel.broadcast("echo", "hi");
  ASSERT_EQ(results.size(), 2u);
  for (auto& r : results) EXPECT_EQ(r.to_json(), R"(["hi"])");
  EXPECT_EQ(a->tasks_run(), 1u);
  EXPECT_EQ(b->tasks_run(), 1u);
  auto failed = kernel.broadcast_outcomes("fail", "x");
  ASSERT_EQ(failed.size(), 2u);
  for (auto& r : failed) EXPECT_FALSE(r);
  EXPECT_THROW(kernel.broadcast("fail", "x"), TaskExecutionError);
}

TEST_P(KernelTest, KernelMadeBeforeItsServerProceedsWhenItAppears) {
  std::uint16_t port = 0;
  {  // a free port, then nobody on it
    auto probe = server();
    port = probe->port();
  }
  Kernel kernel = start(options({"tcp:127.0.0.1:" + std::to_string(port)}));
  auto f = kernel.future<std::int64_t>("add", 40, 2);
  EXPECT_FALSE(f.wait_for(100ms));  // no server yet: the task waits
  auto s = server(port);
  ASSERT_TRUE(f.wait_for(5s));
  EXPECT_EQ(f.force(), 42);
}

TEST_P(KernelTest, DroppedConnectionsLoseNoTask) {
  auto a = server();
  auto b = server();
  Kernel kernel = start(options({a->spec(), b->spec()}));
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  // a's tasks are still running when its connections drop, however slowly this machine gets them there: it
  // answers none until released (a sleep and a hope that 20 ms tasks are mid-flight 10 ms later was flaky).
  a->hold_answers(true);
  Channel channel(kernel);
  constexpr int kTasks = 400;
  for (int i = 0; i < kTasks; ++i) channel.submit("sleep_ms", 20);
  auto until = std::chrono::steady_clock::now() + 10s;
  while (a->tasks_run() == 0 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  ASSERT_GT(a->tasks_run(), 0u) << "no task reached server a";
  a->drop_connections();  // mid-flight
  a->hold_answers(false);
  int received = 0;
  for (int i = 0; i < kTasks; ++i) {
    auto r = channel.try_receive_outcome(10s);
    ASSERT_TRUE(r) << "after " << received << " results";
    ASSERT_TRUE(*r) << r->error().message;
    ++received;
  }
  EXPECT_EQ(received, kTasks);
  KernelStats stats = kernel.stats();
  EXPECT_GT(stats.resubmitted, 0u);
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(kTasks));
  EXPECT_GT(a->tasks_run() + b->tasks_run(), static_cast<std::uint64_t>(kTasks));  // a's ran twice
}

TEST_P(KernelTest, FrozenServerIsDeclaredDeadAndItsLateResultsAreNotDelivered) {
  auto a = server();
  auto b = server();
  KernelOptions o = options({a->spec(), b->spec()});
  o.heartbeat_interval = 50ms;
  o.heartbeat_timeout = 300ms;
  Kernel kernel = start(o);
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  a->freeze(true);  // SIGSTOP, in effect
  Channel channel(kernel);
  constexpr int kTasks = 100;
  for (int i = 0; i < kTasks; ++i) channel.submit("sleep_ms", 10);
  int received = 0;
  for (int i = 0; i < kTasks; ++i) {
    auto r = channel.try_receive_outcome(10s);
    ASSERT_TRUE(r) << "after " << received;
    ASSERT_TRUE(*r);
    ++received;
  }
  a->freeze(false);  // thawed: whatever it still sends must not reach the caller
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(channel.outstanding(), 0u);
  KernelStats stats = kernel.stats();
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(kTasks));
  EXPECT_GT(stats.resubmitted, 0u);
}

TEST_P(KernelTest, SubmitsOfATurnLeaveTogether) {
  auto s = server();
  Kernel kernel = start(options({s->spec()}));
  ASSERT_TRUE(kernel.wait_ready(1, 5s));
  std::vector<std::tuple<std::int64_t, std::int64_t>> inputs(5000, {1, 2});
  auto sums = pmap<std::int64_t>(kernel, "add", inputs);
  EXPECT_EQ(std::accumulate(sums.begin(), sums.end(), std::int64_t{0}), 15000);
  KernelStats stats = kernel.stats();
  EXPECT_LT(stats.sends, 5000u / 4) << "frames were not batched";
  EXPECT_GT(s->max_submits_per_receive(), 16u);
}

TEST_P(KernelTest, FailAfterPolicyAndCloseFailWaitingTasks) {
  std::uint16_t port = 0;
  {
    auto probe = server();
    port = probe->port();
  }
  Kernel kernel = start(options({"tcp:127.0.0.1:" + std::to_string(port)}));
  auto bounded = kernel.future_with<std::int64_t>({.fail_after = 100ms}, "add", 1, 2);
  auto r = bounded.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::deadline_exceeded);
  auto forever = kernel.future<std::int64_t>("add", 1, 2);
  kernel.close();
  auto closed = forever.wait();
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().kind, FailureKind::cancelled);
}

TEST_P(KernelTest, RefusedHandshakeKeepsRetryingAndBadSpecsFailStart) {
  auto refusing = std::make_unique<FakeFarmServer>(
      FakeFarmServer::Options{.backend = GetParam(), .port = 0, .refuse_reason = "authentication failed: wrong token"});
  Kernel kernel = start(options({refusing->spec()}));
  EXPECT_FALSE(kernel.wait_ready(1, 200ms));
  EXPECT_GT(refusing->accepted(), 1u);  // obstinate: it came back
  auto bad = Kernel::start(options({"tcp:127.0.0.1"}));
  EXPECT_FALSE(bad);
}

TEST_P(KernelTest, ServerDeadlineIsSentOnlyWhenTheWelcomeGrantsIt) {
  const TaskPolicy policy{.server_deadline_ms = 250};
  auto granting = std::make_unique<FakeFarmServer>(FakeFarmServer::Options{.backend = GetParam()});
  auto silent = std::make_unique<FakeFarmServer>(FakeFarmServer::Options{
      .backend = GetParam(), .features = kAllFeatures & ~feature_bit(wire::Feature::deadlines)});
  {
    Kernel kernel = start(options({granting->spec()}));
    ASSERT_TRUE(kernel.future_with<std::int64_t>(policy, "add", 1, 2).wait());
    EXPECT_EQ(granting->last_deadline_ms(), 250u);
  }
  {
    Kernel kernel = start(options({silent->spec()}));
    ASSERT_TRUE(kernel.future_with<std::int64_t>(policy, "add", 1, 2).wait());
    EXPECT_EQ(silent->last_deadline_ms(), 0u) << "a deadline went to a server that did not grant the feature";
  }
}

TEST_P(KernelTest, RefusalFailsWaitingTasksWithTheServersReason) {
  auto refusing = std::make_unique<FakeFarmServer>(
      FakeFarmServer::Options{.backend = GetParam(), .port = 0, .refuse_reason = "authentication failed: wrong token"});
  Kernel kernel = start(options({refusing->spec()}));
  auto f = kernel.future<std::int64_t>("add", 1, 2);
  ASSERT_TRUE(f.wait_for(5s)) << "a task for a server that refuses us must not wait forever";
  auto r = f.wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::server_error);
  EXPECT_NE(r.error().message.find("wrong token"), std::string::npos) << r.error().message;
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelTest);

}  // namespace
}  // namespace rfarm::farm

// The Kernel against real farm-server processes loaded with the example task module, on both backends (the
// kernel's and the servers'): pmap and channels, broadcast exactly once per server, a remote failure, a kernel
// made before its server, kill -9 of one of two servers with 10,000 tasks outstanding, and a server frozen with
// SIGSTOP (the heartbeat moves its work; its late results never reach the caller).
#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <numeric>
#include <thread>

#include "farm/client/channel.hpp"
#include "farm/client/kernel.hpp"
#include "farm/client/parallel.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::test::FarmServerProcess;
using Range = std::tuple<std::int64_t, std::int64_t>;

class KernelProcessTest : public rfarm::test::BackendTest {
 protected:
  FarmServerProcess server(std::string listen = "tcp:127.0.0.1:0") {
    auto s = FarmServerProcess::start(GetParam(), std::move(listen));
    if (!s) throw std::runtime_error("farm-server did not start (RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS)");
    return std::move(*s);
  }
  Kernel start(std::vector<std::string> servers, Duration heartbeat_timeout = 3s) {
    KernelOptions o;
    o.servers = std::move(servers);
    o.backend = GetParam();
    o.log_level = LogLevel::error;
    o.backoff = {.initial = 5ms, .max = 100ms};
    o.heartbeat_interval = 100ms;
    o.heartbeat_timeout = heartbeat_timeout;
    o.call_timeout = 10s;
    auto k = Kernel::start(std::move(o));
    if (!k) throw std::runtime_error("Kernel::start: " + k.error().message());
    return std::move(*k);
  }
};

TEST_P(KernelProcessTest, PmapCountsPrimesOnTwoServers) {
  auto a = server();
  auto b = server();
  Kernel kernel = start({a.spec(), b.spec()});
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  std::vector<Range> chunks;
  for (std::int64_t i = 0; i < 50; ++i) chunks.emplace_back(20'000 * i, 20'000 * (i + 1));
  std::vector<std::int64_t> counts = pmap<std::int64_t>(kernel, "count_primes", chunks);
  EXPECT_EQ(counts.front(), 2262);  // pi(20000)
  EXPECT_EQ(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}), 78498);  // pi(10^6)
  Channel channel(kernel);
  channel.submit("count_primes", 0, 100);
  EXPECT_EQ(channel.receive_result().as<std::int64_t>().value(), 25);
  EXPECT_EQ(a.terminate(), 0);
  EXPECT_EQ(b.terminate(), 0);
}

TEST_P(KernelProcessTest, BroadcastReachesEveryServerExactlyOnce) {
  auto a = server();
  auto b = server();
  Kernel kernel = start({a.spec(), b.spec()});
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  auto tasks_run = [&] {
    std::int64_t total = 0;
    for (const TaskResult& r : kernel.broadcast("info")) total += r.value().find("tasks_run")->as<std::int64_t>().value();
    return total;
  };
  std::int64_t before = tasks_run();
  std::vector<TaskResult> echoes = kernel.broadcast("echo", "once");
  ASSERT_EQ(echoes.size(), 2u);
  for (auto& e : echoes) EXPECT_EQ(e.to_json(), R"(["once"])");
  // Between the two info broadcasts: one info and one echo on each server, nothing more.
  EXPECT_EQ(tasks_run() - before, 2 * 2);
}

TEST_P(KernelProcessTest, RemoteFailureCarriesTheServersMessage) {
  auto a = server();
  Kernel kernel = start({a.spec()});
  try {
    kernel.future<std::int64_t>("count_primes", -1, 5).force();
    FAIL() << "no exception";
  } catch (const TaskExecutionError& e) {
    EXPECT_EQ(e.kind(), FailureKind::task_error);
    EXPECT_EQ(e.task_name(), "count_primes");
    EXPECT_NE(e.remote_message().find("need 0 <= lo <= hi"), std::string::npos) << e.remote_message();
  }
}

TEST_P(KernelProcessTest, KernelMadeBeforeItsServer) {
  std::string spec;
  {
    auto probe = server();
    spec = probe.spec();
    EXPECT_EQ(probe.terminate(), 0);
  }
  Kernel kernel = start({spec});
  auto f = kernel.future<std::int64_t>("count_primes", 0, 1000);
  EXPECT_FALSE(f.wait_for(200ms));
  auto late = server(spec);  // the same port, now
  ASSERT_TRUE(f.wait_for(10s));
  EXPECT_EQ(f.force(), 168);
}

TEST_P(KernelProcessTest, KillNineOfOneOfTwoServersWith10000TasksOutstanding) {
  auto a = server();
  auto b = server();
  Kernel kernel = start({a.spec(), b.spec()});
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  Channel channel(kernel);
  constexpr int kTasks = 10'000;
  for (int i = 0; i < kTasks; ++i) channel.submit("count_primes", 0, 20'000);  // ~0.1 ms each
  int received = 0;
  for (; received < kTasks / 5; ++received) {
    auto r = channel.try_receive_outcome(10s);
    ASSERT_TRUE(r && *r);
  }
  a.kill9();
  for (; received < kTasks; ++received) {
    auto r = channel.try_receive_outcome(20s);
    ASSERT_TRUE(r) << "no result after " << received;
    ASSERT_TRUE(*r) << r->error().message;
    ASSERT_EQ((*r)->as<std::int64_t>().value(), 2262);
  }
  EXPECT_EQ(channel.outstanding(), 0u);
  KernelStats stats = kernel.stats();
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(kTasks));  // each task answered once, none lost
  // The resubmitted tasks are the possible duplicates: they were on the killed server, which may have run them.
  std::printf("kill -9 with %d tasks: %llu resubmitted (possible duplicates), %llu late answers dropped\n", kTasks,
              static_cast<unsigned long long>(stats.resubmitted), static_cast<unsigned long long>(stats.dropped_answers));
  RecordProperty("resubmitted", static_cast<int>(stats.resubmitted));
  EXPECT_GT(stats.resubmitted, 0u);
}

TEST_P(KernelProcessTest, SigstopServerIsDeclaredDeadAndResumedLater) {
  auto a = server();
  auto b = server();
  Kernel kernel = start({a.spec(), b.spec()}, 500ms);
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  Channel channel(kernel);
  constexpr int kTasks = 400;
  a.stop();
  for (int i = 0; i < kTasks; ++i) channel.submit("sleep_ms", 2);
  for (int received = 0; received < kTasks; ++received) {
    auto r = channel.try_receive_outcome(10s);
    ASSERT_TRUE(r) << "no result after " << received;
    ASSERT_TRUE(*r);
  }
  a.resume();
  EXPECT_TRUE(kernel.wait_ready(2, 5s));  // it comes back into service
  auto extra = channel.try_receive_outcome(100ms);
  ASSERT_TRUE(extra);  // not a result: the "nothing outstanding" failure
  EXPECT_FALSE(*extra);
  KernelStats stats = kernel.stats();
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(kTasks));
  EXPECT_GT(stats.resubmitted, 0u);
  EXPECT_EQ(a.terminate(), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelProcessTest);

}  // namespace
}  // namespace rfarm::farm

// farm-server kill -9 in the middle of a batch and restarted on the same address: the Kernel reconnects to the
// new process and finishes; the server is frozen (SIGSTOP) just before the kill so that a full window is in
// flight when it dies; every task answered once with its own value (RFARM_FAULT_TASKS tasks, default
// 10,000), the executions beyond one per task bounded by the window of the one connection lost.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test/farm/faults/fault_harness.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::farm::test {
namespace {

using Clock = std::chrono::steady_clock;

class RestartFaultTest : public rfarm::test::BackendTest {};

TEST_P(RestartFaultTest, KillNineMidBatchThenRestartOnTheSameAddress) {
  std::optional<FarmServerProcess> server = start_fault_server(GetParam(), "tcp:127.0.0.1:0");
  ASSERT_TRUE(server) << "farm-server did not start (RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS)";
  const std::string spec = server->spec();
  Kernel kernel = start_kernel({spec}, GetParam());
  ASSERT_TRUE(kernel.wait_ready(1, 5s));
  auto ledger = std::make_shared<Ledger>(fault_task_count());
  auto started = Clock::now();
  PacedSubmitter submitter(kernel, ledger, 4s);
  ASSERT_TRUE(ledger->wait_for_answers(ledger->tasks() / 5, 60s)) << ledger->answered();
  // Mid-batch with a full window in flight: frozen first, so that the kernel fills the window it will lose
  // (an add answers in microseconds, so a bare kill would rarely catch more than a few tasks in flight).
  server->stop();
  for (int i = 0; i < 500 && kernel.stats().in_flight < kernel.options().window; ++i) std::this_thread::sleep_for(2ms);
  const std::size_t in_flight_at_kill = kernel.stats().in_flight;
  server->kill9();
  const std::size_t at_kill = ledger->answered();
  ASSERT_LT(at_kill, ledger->tasks()) << "the batch finished before the kill: nothing was tested";
  server.reset();
  // The same port again; the listener sets SO_REUSEADDR, so the old connections' TIME_WAIT does not block it.
  for (int attempt = 0; attempt < 50 && !server; ++attempt) {
    if (auto next = start_fault_server(GetParam(), spec)) {
      server.emplace(std::move(*next));
    } else {
      std::this_thread::sleep_for(100ms);
    }
  }
  ASSERT_TRUE(server) << "farm-server did not restart on " << spec;
  EXPECT_EQ(server->spec(), spec);
  ASSERT_TRUE(ledger->wait_all(60s)) << ledger->answered() << " of " << ledger->tasks() << " answered";
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  KernelStats stats = kernel.stats();
  report("kill9_restart", GetParam(), *ledger, stats, seconds);
  expect_accounted(*ledger, stats, kernel.options().window);
  EXPECT_GE(stats.sessions, 2u);
  EXPECT_EQ(stats.resubmitted, in_flight_at_kill);  // the window lost with the process, sent again
  EXPECT_GT(in_flight_at_kill, 0u);  // one with the killed process, one with its successor
}

RFARM_INSTANTIATE_BACKEND_TESTS(RestartFaultTest);

}  // namespace
}  // namespace rfarm::farm::test

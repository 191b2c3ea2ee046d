// 5% packet loss for a whole run: farm-server in one network namespace, the Kernel's engine thread in another,
// joined by a veth pair; nftables in the server's namespace drops 5% of the packets in each direction
// (numgen random). TCP retransmits; the heartbeat may declare a connection dead when a loss burst outlasts it,
// and then the work moves (possible duplicate executions, counted). Every task answered once with its value.
#include <gtest/gtest.h>

#include <chrono>

#include "test/farm/faults/fault_harness.hpp"

namespace rfarm::farm::test {
namespace {

using Clock = std::chrono::steady_clock;

class PacketLossFaultTest : public NamespacedFaultTest {
 protected:
  std::string tag() const override { return "loss"; }
};

TEST_P(PacketLossFaultTest, FivePercentLossForTheWholeRun) {
  auto server = start_server("tcp:10.77.0.1:0");
  ASSERT_TRUE(server) << "farm-server did not start in " << server_namespace();
  auto made = start_kernel_in_client_namespace({server->spec()});
  ASSERT_TRUE(made) << made.error().message();
  Kernel kernel = std::move(*made);
  ASSERT_TRUE(kernel.wait_ready(1, 10s));
  ASSERT_TRUE(filter().drop_percent(5));
  auto ledger = std::make_shared<Ledger>(fault_task_count());
  auto started = Clock::now();
  // 2,000 batches over 5 s: many small sends (and their answers) meet the loss, not a few large ones.
  PacedSubmitter submitter(kernel, ledger, 5s, ledger->tasks() / 2000);
  submitter.finish();
  // Bounded: the submission's 5 s, plus a margin per task.
  ASSERT_TRUE(ledger->wait_all(std::chrono::seconds(30 + ledger->tasks() / 1000)))
      << ledger->answered() << " of " << ledger->tasks() << " answered";
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  KernelStats stats = kernel.stats();
  const long executions = tasks_run_on_servers(kernel, 1);
  report("loss_5pct", GetParam(), *ledger, stats, seconds, executions);
  // A task runs twice only if its connection was lost with it (resubmitted): the bound on duplicates.
  EXPECT_GE(executions, static_cast<long>(ledger->tasks()));
  EXPECT_LE(executions - static_cast<long>(ledger->tasks()), static_cast<long>(stats.resubmitted));
  const long dropped = filter().dropped();
  std::printf("loss: %ld packets dropped by the filter\n", dropped);
  EXPECT_GT(dropped, 0) << "the filter dropped nothing: the case tested no loss";
  // Each connection declared dead may have had a window's worth of tasks on it.
  expect_accounted(*ledger, stats, kernel.options().window * (stats.sessions > 0 ? stats.sessions : 1));
  kernel.close();  // before the namespaces go
}

RFARM_INSTANTIATE_BACKEND_TESTS(PacketLossFaultTest);

}  // namespace
}  // namespace rfarm::farm::test

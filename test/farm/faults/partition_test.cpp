// A partition between the Kernel and one of two servers, healed after a few seconds: both servers live in
// namespace a (10.77.0.1 and 10.77.0.3), the Kernel's engine thread in namespace b; an nftables drop rule cuts
// every packet to and from 10.77.0.3. The heartbeat declares that connection dead, its work moves to the other
// server; after the heal the Kernel reconnects and uses both again. Every task answered once with its value.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test/farm/faults/fault_harness.hpp"

namespace rfarm::farm::test {
namespace {

using Clock = std::chrono::steady_clock;

class PartitionFaultTest : public NamespacedFaultTest {
 protected:
  std::string tag() const override { return "part"; }
};

TEST_P(PartitionFaultTest, OneOfTwoServersCutOffThenHealed) {
  auto near = start_server("tcp:10.77.0.1:0");
  auto far = start_server("tcp:10.77.0.3:0");
  ASSERT_TRUE(near && far) << "farm-server did not start in " << server_namespace();
  auto made = start_kernel_in_client_namespace({near->spec(), far->spec()}, 1s);
  ASSERT_TRUE(made) << made.error().message();
  Kernel kernel = std::move(*made);
  ASSERT_TRUE(kernel.wait_ready(2, 10s));
  auto ledger = std::make_shared<Ledger>(fault_task_count());
  auto started = Clock::now();
  PacedSubmitter submitter(kernel, ledger, 8s);
  ASSERT_TRUE(ledger->wait_for_answers(ledger->tasks() / 10, 60s)) << ledger->answered();
  ASSERT_TRUE(filter().cut("10.77.0.3"));
  const std::size_t at_cut = ledger->answered();
  std::this_thread::sleep_for(3s);  // the heartbeat (1 s) notices; the other server carries the work
  const std::size_t during = ledger->answered();
  ASSERT_TRUE(filter().heal());
  EXPECT_TRUE(kernel.wait_ready(2, 10s)) << "the cut-off server did not come back into service";
  ASSERT_TRUE(ledger->wait_all(60s)) << ledger->answered() << " of " << ledger->tasks() << " answered";
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  KernelStats stats = kernel.stats();
  const long executions = tasks_run_on_servers(kernel, 2);
  report("partition_healed", GetParam(), *ledger, stats, seconds, executions);
  // A task runs twice only if its connection was lost with it (resubmitted): the bound on duplicates.
  EXPECT_GE(executions, static_cast<long>(ledger->tasks()));
  EXPECT_LE(executions - static_cast<long>(ledger->tasks()), static_cast<long>(stats.resubmitted));
  std::printf("partition: %zu answered at the cut, %zu after 3 s of it\n", at_cut, during);
  expect_accounted(*ledger, stats, kernel.options().window * 2);
  ASSERT_LT(at_cut, ledger->tasks()) << "the batch finished before the cut: nothing was tested";
  EXPECT_GT(during, at_cut) << "the other server did not carry the work";
  kernel.close();
}

RFARM_INSTANTIATE_BACKEND_TESTS(PartitionFaultTest);

}  // namespace
}  // namespace rfarm::farm::test

// A partition between the Kernel and one of two servers, healed after a few seconds: both servers live in
// namespace a (10.77.0.1 and 10.77.0.3), the Kernel's engine thread in namespace b; an nftables drop rule cuts
// every packet to and from 10.77.0.3. The heartbeat declares that connection dead, its work moves to the other
// server; after the heal the Kernel reconnects and uses both again. Every task answered once with its value.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "test/farm/faults/fault_harness.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/packet_filter.hpp"

namespace rfarm::farm::test {
namespace {

using Clock = std::chrono::steady_clock;
using rfarm::test::PacketFilter;
using rfarm::test::Side;
using rfarm::test::VethNamespaces;

class PartitionFaultTest : public rfarm::test::BackendTest {};

TEST_P(PartitionFaultTest, OneOfTwoServersCutOffThenHealed) {
  std::string why;
  auto net = VethNamespaces::create("part", &why, {.wait_for_multicast_route = false});
  if (!net) GTEST_SKIP() << why;
  auto filter = PacketFilter::create(net->name(Side::a), &why);
  ASSERT_TRUE(filter) << why;
  auto near = FaultServer::start(GetParam(), "tcp:10.77.0.1:0", net->name(Side::a));
  auto far = FaultServer::start(GetParam(), "tcp:10.77.0.3:0", net->name(Side::a));
  ASSERT_TRUE(near && far) << "farm-server did not start in " << net->name(Side::a);
  auto made = net->run_in(Side::b, [&] { return start_kernel({near->spec(), far->spec()}, GetParam(), 1s); });
  ASSERT_TRUE(made) << made.error().message();
  Kernel kernel = std::move(*made);
  ASSERT_TRUE(kernel.wait_ready(2, 10s));
  auto ledger = std::make_shared<Ledger>(fault_task_count());
  auto started = Clock::now();
  PacedSubmitter submitter(kernel, ledger, 8s);
  ASSERT_TRUE(ledger->wait_for_answers(ledger->tasks() / 10, 60s)) << ledger->answered();
  ASSERT_TRUE(filter->cut("10.77.0.3"));
  const std::size_t at_cut = ledger->answered();
  std::this_thread::sleep_for(3s);  // the heartbeat (1 s) notices; the other server carries the work
  const std::size_t during = ledger->answered();
  ASSERT_TRUE(filter->heal());
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

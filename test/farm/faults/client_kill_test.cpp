// A client killed (kill -9) in the middle of a batch: the server closes its connection, drops the client's
// queued tasks instead of running them for nobody, gives back the descriptor and the memory, and keeps serving
// another client. Three clients in a row, each with a full window (512) of sleep_ms(10) tasks queued behind
// the server's two workers (about 2.5 s of work) when it dies.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "test/farm/faults/fault_harness.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::farm::test {
namespace {

using Clock = std::chrono::steady_clock;

class ClientKillFaultTest : public rfarm::test::BackendTest {};

std::int64_t tasks_run(Kernel& kernel) {
  std::vector<TaskResult> infos = kernel.broadcast("info");
  if (infos.size() != 1) return -1;
  return infos[0].value().find("tasks_run")->as<std::int64_t>().value();
}

// Polls `fn() == want` for up to `limit`.
template <class Fn>
bool eventually(Fn fn, int want, std::chrono::milliseconds limit) {
  auto end = Clock::now() + limit;
  while (fn() != want && Clock::now() < end) std::this_thread::sleep_for(10ms);
  return fn() == want;
}

TEST_P(ClientKillFaultTest, ServerFreesAKilledClientsStateAndKeepsServing) {
  auto server = start_fault_server(GetParam(), "tcp:127.0.0.1:0");
  ASSERT_TRUE(server) << "farm-server did not start (RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS)";
  Kernel observer = start_kernel({server->spec()}, GetParam());
  ASSERT_TRUE(observer.wait_ready(1, 5s));
  const int descriptors = server->open_descriptors();
  ASSERT_GT(descriptors, 0);
  std::vector<long> rss_after;
  constexpr int kClients = 3;
  for (int round = 0; round < kClients; ++round) {
    auto client = rfarm::test::ChildProcess::spawn({env_text("RFARM_FAULT_CLIENT"), server->spec(), "5000", "10"});
    ASSERT_TRUE(client);
    auto line = client->read_line(15s);
    ASSERT_TRUE(line && line->rfind("in-flight ", 0) == 0) << line.value_or("(nothing)");
    ASSERT_TRUE(eventually([&] { return server->open_descriptors(); }, descriptors + 1, 5s));
    const std::int64_t run_at_kill = tasks_run(observer);
    ::kill(client->pid(), SIGKILL);
    EXPECT_NE(client->wait(10s), 0);
    // The descriptor goes back at once (the connection closes on the reset or EOF, not when its tasks end).
    EXPECT_TRUE(eventually([&] { return server->open_descriptors(); }, descriptors, 5s))
        << server->open_descriptors() << " descriptors, " << descriptors << " before";
    // What the window queued would take 2.5 s to run; give the workers the time, then count what ran.
    std::this_thread::sleep_for(1500ms);
    const std::int64_t ran_after = tasks_run(observer) - run_at_kill - 1;  // less the info task itself
    std::printf("client %d killed with %s queued on the server: %lld of its tasks ran after the kill\n", round,
                line->c_str() + 10, static_cast<long long>(ran_after));
    // The two being run when the connection closed, plus a few the workers took meanwhile.
    EXPECT_LE(ran_after, 16) << "the server ran a dead client's queued tasks";
    rss_after.push_back(server->rss_kib());
  }
  // The server still serves: the observer's own run, every value checked.
  auto ledger = std::make_shared<Ledger>(fault_task_count());
  auto started = Clock::now();
  submit_additions(observer, ledger);
  ASSERT_TRUE(ledger->wait_all(60s)) << ledger->answered() << " of " << ledger->tasks() << " answered";
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  KernelStats stats = observer.stats();
  report("client_kill9", GetParam(), *ledger, stats, seconds);
  expect_accounted(*ledger, stats, 0, 2 * kClients);  // two info broadcasts per client
  std::printf("server RSS after each killed client (KiB): %ld %ld %ld\n", rss_after[0], rss_after[1], rss_after[2]);
  // Memory back: no growth from one killed client to the next beyond allocator noise (1 MiB).
  EXPECT_LE(rss_after.back() - rss_after.front(), 1024);
  EXPECT_EQ(server->open_descriptors(), descriptors);
}

RFARM_INSTANTIATE_BACKEND_TESTS(ClientKillFaultTest);

}  // namespace
}  // namespace rfarm::farm::test

// Graceful shutdown: stop accepting, let connections in flight finish, close what is left at the deadline,
// stop every core. Real TCP clients on the test's thread; signals in a child process.
#include "reactor/runtime/shutdown.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "reactor/runtime/sharded_listener.hpp"
#include "test/reactor/runtime/runtime_fixture.hpp"
#include "test/reactor/runtime/tcp_client.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

// An echo connection registered for shutdown.
Task<void> guarded_echo(StreamSocket conn, std::atomic<int>* finished) {
  ConnectionGuard live(conn);
  for (;;) {
    auto data = co_await conn.recv_pooled();
    if (!data || data->empty()) break;
    if (!co_await conn.send_all(data->bytes())) break;
  }
  finished->fetch_add(1);
}

class ShutdownTest : public RuntimeTest {
 protected:
  ShardedListener serve(Runtime& rt, std::atomic<int>& finished) {
    auto listener = run_on<Result<ShardedListener>>(rt, 0, [&]() -> Task<Result<ShardedListener>> {
      co_return co_await ShardedListener::listen(rt, Address::loopback_v4(0), {}, [&finished](StreamSocket conn) {
        this_reactor().spawn(guarded_echo(std::move(conn), &finished));
      });
    });
    if (!listener) throw std::runtime_error("listen: " + listener.error().message());
    return std::move(*listener);
  }

  static bool refused_within(const Address& where, Duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto c = TcpClient::connect(where, 1s);
      if (!c && c.error() == std::errc::connection_refused) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
};

TEST_P(ShutdownTest, ConnectionsInFlightFinishThenTheRuntimeStopsBeforeTheDeadline) {
  auto rt = start_runtime({.threads = 2});
  std::atomic<int> finished{0};
  ShardedListener listener = serve(*rt, finished);
  std::vector<TcpClient> clients;
  for (int i = 0; i < 8; ++i) {
    auto c = TcpClient::connect(listener.local_address());
    ASSERT_TRUE(c) << c.error().message();
    ASSERT_TRUE(c->echo("before"));
    clients.push_back(std::move(*c));
  }
  const auto begin = std::chrono::steady_clock::now();
  rt->shutdown(5s);
  EXPECT_TRUE(refused_within(listener.local_address(), 3s)) << "new connections must be refused";
  EXPECT_FALSE(rt->join_for(50ms)) << "connections are still open: the runtime must wait for them";
  for (auto& c : clients) EXPECT_TRUE(c.echo("while draining")) << "a connection in flight keeps being served";
  clients.clear();  // the clients finish: the server sees end of stream on each
  EXPECT_TRUE(rt->join_for(3s));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 4s) << "drained: no need to wait for the deadline";
  EXPECT_GE(finished.load(), 8) << "(the refusal probes may add connections made before the close)";
}

TEST_P(ShutdownTest, TheDeadlineClosesConnectionsThatStayOpen) {
  auto rt = start_runtime({.threads = 2});
  std::atomic<int> finished{0};
  ShardedListener listener = serve(*rt, finished);
  auto idle = TcpClient::connect(listener.local_address());
  ASSERT_TRUE(idle);
  ASSERT_TRUE(idle->echo("hello"));
  const auto begin = std::chrono::steady_clock::now();
  rt->shutdown(300ms);
  EXPECT_TRUE(idle->closed_by_peer(3000ms)) << "the server closes the connection left at the deadline";
  EXPECT_TRUE(rt->join_for(3s));
  const auto took = std::chrono::steady_clock::now() - begin;
  EXPECT_GE(took, 280ms) << "closed before the deadline";
  EXPECT_LT(took, 2s);
  EXPECT_EQ(finished.load(), 1) << "the connection's coroutine ended (its receive was cancelled)";
}

TEST_P(ShutdownTest, WithNothingToDrainTheRuntimeStopsAtOnce) {
  auto rt = start_runtime({.threads = 2});
  std::atomic<int> finished{0};
  ShardedListener listener = serve(*rt, finished);
  const auto begin = std::chrono::steady_clock::now();
  rt->shutdown(10s);
  EXPECT_TRUE(rt->join_for(3s));
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
}

TEST_P(ShutdownTest, OnDrainRunsOnceAndDrainingTurnsTrue) {
  auto rt = start_runtime({.threads = 2});
  std::atomic<int> drained{0};
  std::atomic<bool> saw_draining{false};
  rt->post(1, [&] {
    this_reactor().spawn([](std::atomic<int>& drained, std::atomic<bool>& saw) -> Task<void> {
      bool stop = false;
      ConnectionGuard live([&stop] { stop = true; });
      live.on_drain([&drained] { drained.fetch_add(1); });
      while (!live.draining() && !stop) co_await this_reactor().sleep(1ms);
      saw = live.draining();
    }(drained, saw_draining));
  });
  std::this_thread::sleep_for(20ms);
  rt->shutdown(5s);
  EXPECT_TRUE(rt->join_for(3s));
  EXPECT_EQ(drained.load(), 1);
  EXPECT_TRUE(saw_draining.load());
}

TEST_P(ShutdownTest, GuardsOffARuntimeCoreAreInert) {
  ReactorOptions options;
  options.backend = GetParam();
  auto reactor = Reactor::create(options).value();
  bool stopped = false;
  {
    AcceptorGuard acceptor([&stopped] { stopped = true; });
    ConnectionGuard live([] {});
    EXPECT_FALSE(live.draining());
  }
  EXPECT_FALSE(stopped);
}

RFARM_INSTANTIATE_RUNTIME_TESTS(ShutdownTest);

// ---------------------------------------------------------------------------------------------------------
// Signals, in a child process (runtime_signal_child): the first SIGINT / SIGTERM drains, a second one exits
// at once.

std::string child_path() {
  const char* path = std::getenv("RFARM_RUNTIME_SIGNAL_CHILD");
  return path != nullptr ? path : "";
}

TEST(RuntimeSignalTest, FirstSignalShutsDownGracefully) {
  if (child_path().empty()) GTEST_SKIP() << "RFARM_RUNTIME_SIGNAL_CHILD is not set (run through meson)";
  auto child = ChildProcess::spawn({child_path()});
  ASSERT_TRUE(child) << child.error().message();
  auto ready = child->read_line(10s);
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->rfind("ready", 0), 0u) << *ready;
  ::kill(child->pid(), SIGTERM);
  EXPECT_EQ(child->read_line(10s), "stopped");
  EXPECT_EQ(child->wait(10s), 0);
}

TEST(RuntimeSignalTest, SecondSignalExitsAtOnce) {
  if (child_path().empty()) GTEST_SKIP() << "RFARM_RUNTIME_SIGNAL_CHILD is not set (run through meson)";
  // --hold keeps a connection that never closes, so the drain would last the whole 60 s deadline.
  auto child = ChildProcess::spawn({child_path(), "--hold"});
  ASSERT_TRUE(child) << child.error().message();
  auto ready = child->read_line(10s);
  ASSERT_TRUE(ready.has_value());
  ASSERT_EQ(ready->rfind("ready", 0), 0u) << *ready;
  ::kill(child->pid(), SIGINT);
  EXPECT_EQ(child->read_line(10s), "draining");
  const auto begin = std::chrono::steady_clock::now();
  ::kill(child->pid(), SIGINT);
  EXPECT_EQ(child->wait(5s), 128 + SIGINT);
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
}

}  // namespace
}  // namespace rfarm::test

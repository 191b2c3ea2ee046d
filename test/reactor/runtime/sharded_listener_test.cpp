// ShardedListener: connections spread over the cores by SO_REUSEPORT, by CPU (a reuseport BPF program), or
// dealt round robin by one acceptor core; real TCP clients on the test's thread.
#include "reactor/runtime/sharded_listener.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <thread>
#include <vector>

#include "reactor/runtime/reuseport_cbpf.hpp"
#include "test/reactor/runtime/runtime_fixture.hpp"
#include "test/reactor/runtime/tcp_client.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::test {
namespace {

// Echoes every connection; counts, per core, the connections whose handler ran on the core that owns it.
struct EchoService {
  std::vector<std::atomic<int>> handled_on_owner;
  std::atomic<int> handled_elsewhere{0};
  explicit EchoService(unsigned cores) : handled_on_owner(cores) {}

  static Task<void> echo(StreamSocket conn) {
    for (;;) {
      auto data = co_await conn.recv_pooled();
      if (!data || data->empty()) break;
      if (!co_await conn.send_all(data->bytes())) break;
    }
  }

  ConnectionHandler handler() {
    return [this](StreamSocket conn) {
      if (&conn.reactor() == &this_reactor()) {
        handled_on_owner[this_core()].fetch_add(1);
      } else {
        handled_elsewhere.fetch_add(1);
      }
      this_reactor().spawn(echo(std::move(conn)));
    };
  }
};

class ShardedListenerTest : public RuntimeTest {
 protected:
  ShardedListener listen(Runtime& rt, EchoService& service, ShardedListenOptions options) {
    auto listener = run_on<Result<ShardedListener>>(rt, 0, [&]() -> Task<Result<ShardedListener>> {
      co_return co_await ShardedListener::listen(rt, Address::loopback_v4(0), options, service.handler());
    });
    if (!listener) throw std::runtime_error("ShardedListener::listen: " + listener.error().message());
    return std::move(*listener);
  }

  // n connections, one after the other, each echoing once and staying open; returns them.
  static std::vector<TcpClient> connect_and_echo(const Address& where, int n) {
    std::vector<TcpClient> clients;
    for (int i = 0; i < n; ++i) {
      auto c = TcpClient::connect(where);
      if (!c) {
        ADD_FAILURE() << "connect " << i << ": " << c.error().message();
        break;
      }
      EXPECT_TRUE(c->echo("ping " + std::to_string(i))) << "connection " << i;
      clients.push_back(std::move(*c));
    }
    return clients;
  }
};

TEST_P(ShardedListenerTest, ReuseportSpreadsConnectionsOverEveryCore) {
  auto rt = start_runtime({.threads = 2});
  EchoService service(2);
  ShardedListener listener = listen(*rt, service, {.distribution = ConnectionDistribution::reuseport});
  ASSERT_NE(listener.local_address().port(), 0);
  // 64 connections hashed over 2 sockets: all on one core has probability 2^-63.
  auto clients = connect_and_echo(listener.local_address(), 64);
  ASSERT_EQ(clients.size(), 64u);
  const auto accepted = listener.accepted_per_core();
  EXPECT_GT(accepted[0], 0u);
  EXPECT_GT(accepted[1], 0u);
  EXPECT_EQ(accepted[0] + accepted[1], 64u);
  EXPECT_EQ(service.handled_on_owner[0].load() + service.handled_on_owner[1].load(), 64);
  EXPECT_EQ(service.handled_elsewhere.load(), 0);
  clients.clear();
  stop_and_join(*rt);
}

TEST_P(ShardedListenerTest, RoundRobinDealsConnectionsInTurn) {
  auto rt = start_runtime({.threads = 2});
  EchoService service(2);
  ShardedListener listener =
      listen(*rt, service, {.distribution = ConnectionDistribution::round_robin, .acceptor_core = 1});
  auto clients = connect_and_echo(listener.local_address(), 10);
  ASSERT_EQ(clients.size(), 10u);
  EXPECT_EQ(listener.accepted_per_core(), (std::vector<std::uint64_t>{5, 5}));
  EXPECT_EQ(service.handled_on_owner[0].load(), 5);
  EXPECT_EQ(service.handled_on_owner[1].load(), 5);
  EXPECT_EQ(service.handled_elsewhere.load(), 0) << "the socket must be adopted by the core that serves it";
  clients.clear();
  stop_and_join(*rt);
}

// On loopback a connection's packets are processed on the connecting thread's CPU, so a client pinned to
// the CPU of core c lands on core c, every time.
TEST_P(ShardedListenerTest, CpuSteeringSendsAClientToTheCoreOnItsCpu) {
  const std::vector<int> cpus = allowed_cpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs 2 CPUs, this process may use " << cpus.size();
  auto rt = start_runtime({.threads = 2, .pin = true});
  EchoService service(2);
  ShardedListener listener = listen(*rt, service, {.distribution = ConnectionDistribution::reuseport_cpu});
  for (unsigned core : {1u, 0u}) {
    const auto before = listener.accepted_per_core();
    std::vector<TcpClient> clients;
    std::thread client([&] {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(*rt->cpu_of(core), &set);
      ASSERT_EQ(::pthread_setaffinity_np(::pthread_self(), sizeof set, &set), 0);
      clients = connect_and_echo(listener.local_address(), 16);
    });
    client.join();
    const auto after = listener.accepted_per_core();
    EXPECT_EQ(after[core] - before[core], 16u) << "clients on CPU " << *rt->cpu_of(core);
    EXPECT_EQ(after[1 - core], before[1 - core]);
  }
  stop_and_join(*rt);
}

TEST_P(ShardedListenerTest, CloseStopsAcceptingOnEveryCore) {
  for (auto distribution : {ConnectionDistribution::reuseport, ConnectionDistribution::round_robin}) {
    auto rt = start_runtime({.threads = 2});
    EchoService service(2);
    ShardedListener listener = listen(*rt, service, {.distribution = distribution});
    auto clients = connect_and_echo(listener.local_address(), 4);
    listener.close();
    bool refused = false;
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!refused && std::chrono::steady_clock::now() < deadline) {
      auto c = TcpClient::connect(listener.local_address(), 1s);
      refused = !c && c.error() == std::errc::connection_refused;
      if (!refused) std::this_thread::sleep_for(5ms);
    }
    EXPECT_TRUE(refused) << to_string(distribution);
    for (auto& c : clients) EXPECT_TRUE(c.echo("still served")) << "connections already accepted stay";
    clients.clear();
    stop_and_join(*rt);
  }
}

TEST_P(ShardedListenerTest, ListeningOnAPortInUseFails) {
  auto rt = start_runtime({.threads = 2});
  EchoService service(2);
  ShardedListener first = listen(*rt, service, {.distribution = ConnectionDistribution::round_robin});
  auto second = run_on<Result<ShardedListener>>(*rt, 0, [&]() -> Task<Result<ShardedListener>> {
    co_return co_await ShardedListener::listen(*rt, first.local_address(), {}, service.handler());
  });
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), std::errc::address_in_use);
  stop_and_join(*rt);
}

TEST_P(ShardedListenerTest, AUnixPathIsServedRoundRobinAndRefusedForReuseport) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  auto path = Address::unix_path(dir.file("echo.sock"));
  ASSERT_TRUE(path);
  auto rt = start_runtime({.threads = 2});
  EchoService service(2);
  auto listen_at = [&](ConnectionDistribution d) {
    return run_on<Result<ShardedListener>>(*rt, 0, [&]() -> Task<Result<ShardedListener>> {
      co_return co_await ShardedListener::listen(*rt, *path, {.distribution = d}, service.handler());
    });
  };
  auto refused = listen_at(ConnectionDistribution::reuseport);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error(), std::errc::address_family_not_supported);
  auto listener = listen_at(ConnectionDistribution::round_robin);
  ASSERT_TRUE(listener) << listener.error().message();
  auto clients = connect_and_echo(*path, 4);
  EXPECT_EQ(clients.size(), 4u);
  EXPECT_EQ(listener->accepted_per_core(), (std::vector<std::uint64_t>{2, 2}));
  clients.clear();
  stop_and_join(*rt);
}

RFARM_INSTANTIATE_RUNTIME_TESTS(ShardedListenerTest);

TEST(CpuSteeringProgramTest, MapsEachPinnedCpuToItsCoreAndTheRestByModulo) {
  const std::vector<std::optional<int>> cpus{4, 6, std::nullopt};
  const std::vector<sock_filter> p = cpu_steering_program(cpus);
  // ld cpu; (jeq 4; ret 0); (jeq 6; ret 1); mod 3; ret a
  ASSERT_EQ(p.size(), 7u);
  EXPECT_EQ(p[0].code, BPF_LD | BPF_W | BPF_ABS);
  EXPECT_EQ(p[0].k, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_CPU));
  EXPECT_EQ(p[1].k, 4u);
  EXPECT_EQ(p[2].k, 0u);
  EXPECT_EQ(p[3].k, 6u);
  EXPECT_EQ(p[4].k, 1u);
  EXPECT_EQ(p[5].code, BPF_ALU | BPF_MOD | BPF_K);
  EXPECT_EQ(p[5].k, 3u);
  EXPECT_EQ(p[6].code, BPF_RET | BPF_A);
}

TEST(CpuSteeringProgramTest, TheKernelAcceptsItOnAReuseportSocket) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(fd);
  int one = 1;
  ASSERT_EQ(::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), 0);
  Address a = Address::loopback_v4(0);
  ASSERT_EQ(::bind(fd.get(), a.native(), a.native_length()), 0);
  const std::vector<std::optional<int>> cpus{0, 1};
  EXPECT_FALSE(attach_reuseport_program(fd.get(), cpu_steering_program(cpus)));
  // A socket without SO_REUSEPORT has no group to steer.
  UniqueFd plain(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_TRUE(attach_reuseport_program(plain.get(), cpu_steering_program(cpus)));
}

}  // namespace
}  // namespace rfarm::test

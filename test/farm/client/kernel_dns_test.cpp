// A server spec that names a host is a group of servers (farm/client/server_group.hpp), on both backends: a real
// dnsmasq answers farm.test from a hosts file the test rewrites (SIGHUP makes dnsmasq read it again), and real
// farm-server processes listen on 127.0.0.2 and 127.0.0.3 (all of 127/8 is loopback) on one port. A server
// added to the name starts receiving tasks; a server removed from it is drained (its tasks in flight finish
// there, none is lost or run again) and gets nothing more; a name server that stops answering changes nothing.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "farm/admin/admin.hpp"
#include "farm/client/channel.hpp"
#include "farm/client/kernel.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/dns_server.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::test::DnsServer;
using test::FarmServerProcess;

void write_hosts(const std::string& path, const std::vector<std::string>& addresses) {
  std::ofstream out(path, std::ios::trunc);
  for (const std::string& a : addresses) out << a << " farm.test\n";
}

std::string port_of(const std::string& spec) { return spec.substr(spec.rfind(':') + 1); }

// The server's own count of tasks run (its info task, over a connection of farm-admin's; that info counts too).
std::int64_t tasks_run(const std::string& spec) {
  admin::AdminOptions options;
  options.timeout = 5s;
  auto text = admin::info(spec, options);
  if (!text) return -1;
  std::smatch m;
  if (!std::regex_search(*text, m, std::regex(R"("tasks_run"\s*:\s*(\d+))"))) return -1;
  return std::stoll(m[1].str());
}

template <class Predicate>
bool eventually(Predicate ready, Duration limit = 5s) {
  for (auto until = Clock::now() + limit; Clock::now() < until; std::this_thread::sleep_for(5ms))
    if (ready()) return true;
  return ready();
}

class KernelDnsTest : public rfarm::test::BackendTest {
 protected:
  FarmServerProcess server(std::string listen) {
    auto s = FarmServerProcess::start(GetParam(), std::move(listen));
    if (!s) throw std::runtime_error("farm-server did not start on " + listen);
    return std::move(*s);
  }
  Kernel start(const std::string& spec, const DnsServer& dns) {
    KernelOptions o;
    o.servers = {spec};
    o.backend = GetParam();
    o.log_level = LogLevel::error;
    o.backoff = {.initial = 5ms, .max = 100ms};
    o.resolve_interval = 50ms;
    o.resolver.servers = {dns.address()};
    o.resolver.search_domains = std::vector<std::string>{};
    o.resolver.attempt_timeout = 100ms;
    o.resolver.tries = 1;
    o.call_timeout = 10s;
    auto k = Kernel::start(std::move(o));
    if (!k) throw std::runtime_error("Kernel::start: " + k.error().message());
    return std::move(*k);
  }
  // n tasks through a channel; every answer checked. sleep_ms(ms) if ms > 0 (they spread over the servers: the
  // balancer gives each to the least loaded), else add.
  static void run_batch(Kernel& kernel, int n, int ms = 0) {
    Channel channel(kernel);
    for (int i = 0; i < n; ++i) {
      if (ms > 0) channel.submit("sleep_ms", ms);
      else channel.submit("add", i, 1);
    }
    for (int i = 0; i < n; ++i) {
      RemoteResult r = channel.receive_outcome();
      ASSERT_TRUE(r) << r.error().message;
    }
  }
};

TEST_P(KernelDnsTest, ServersJoinAndLeaveAsTheNameChanges) {
  rfarm::test::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string hosts = dir.file("farm.hosts");
  auto a = server("tcp:127.0.0.2:0");
  const std::string port = port_of(a.spec());
  auto b = server("tcp:127.0.0.3:" + port);
  write_hosts(hosts, {"127.0.0.2"});
  std::optional<DnsServer> dns;
  {
    auto started = DnsServer::start({"--addn-hosts=" + hosts});
    if (!started) GTEST_SKIP() << started.error();
    dns.emplace(std::move(*started));
  }
  Kernel kernel = start("tcp:farm.test:" + port, *dns);

  // The name resolves to a: one server, every task there.
  ASSERT_TRUE(kernel.wait_ready(1, 5s));
  run_batch(kernel, 100);
  EXPECT_EQ(kernel.stats().servers, 1u);
  EXPECT_GE(tasks_run(a.spec()), 100);
  EXPECT_EQ(tasks_run(b.spec()), 0);

  // b joins the name: the next lookup finds it, and it takes its share.
  write_hosts(hosts, {"127.0.0.2", "127.0.0.3"});
  dns->reload();
  ASSERT_TRUE(kernel.wait_ready(2, 5s));
  EXPECT_EQ(kernel.stats().servers, 2u);
  std::int64_t b_before = tasks_run(b.spec());
  run_batch(kernel, 100, 2);
  EXPECT_GE(tasks_run(b.spec()) - b_before, 20);

  // a leaves the name while it has tasks in flight: they finish there (none moves, none is lost), and its
  // connection closes once they are answered.
  {
    Channel channel(kernel);
    for (int i = 0; i < 200; ++i) channel.submit("sleep_ms", 5);
    ASSERT_TRUE(eventually([&] { return kernel.stats().in_flight > 50; }));
    write_hosts(hosts, {"127.0.0.3"});
    dns->reload();
    for (int i = 0; i < 200; ++i) {
      RemoteResult r = channel.receive_outcome();
      ASSERT_TRUE(r) << r.error().message;
    }
  }
  ASSERT_TRUE(eventually([&] { return kernel.stats().servers == 1; })) << kernel.stats().servers << " servers";
  EXPECT_EQ(kernel.stats().resubmitted, 0u);
  std::int64_t a_after = tasks_run(a.spec());
  run_batch(kernel, 100);
  EXPECT_LE(tasks_run(a.spec()) - a_after, 1);  // the info task above, nothing of ours

  // The name server goes away: lookups fail, and the kernel keeps the servers it knows.
  dns.reset();
  std::this_thread::sleep_for(400ms);  // several failed lookups (50 ms apart, 100 ms each)
  EXPECT_EQ(kernel.stats().servers, 1u);
  EXPECT_EQ(kernel.stats().ready, 1u);
  std::int64_t b_last = tasks_run(b.spec());
  run_batch(kernel, 100);
  EXPECT_GE(tasks_run(b.spec()) - b_last, 100);
  EXPECT_EQ(kernel.stats().completed, 100u + 100u + 200u + 100u + 100u);
  kernel.close();
  EXPECT_EQ(a.terminate(), 0);
  EXPECT_EQ(b.terminate(), 0);
}

TEST_P(KernelDnsTest, KernelMadeBeforeTheNameResolves) {
  rfarm::test::TempDir dir;
  ASSERT_TRUE(dir.ok());
  const std::string hosts = dir.file("farm.hosts");
  auto a = server("tcp:127.0.0.2:0");
  write_hosts(hosts, {});
  auto dns = DnsServer::start({"--addn-hosts=" + hosts});
  if (!dns) GTEST_SKIP() << dns.error();
  Kernel kernel = start("tcp:farm.test:" + port_of(a.spec()), *dns);
  Future<std::int64_t> sum = kernel.future<std::int64_t>("add", 20, 22);  // waits: no server yet (NXDOMAIN)
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(sum.fulfilled());
  EXPECT_EQ(kernel.stats().servers, 0u);
  write_hosts(hosts, {"127.0.0.2"});
  dns->reload();
  EXPECT_EQ(sum.force(), 42);
  EXPECT_EQ(kernel.stats().servers, 1u);
  kernel.close();
  EXPECT_EQ(a.terminate(), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelDnsTest);

}  // namespace
}  // namespace rfarm::farm

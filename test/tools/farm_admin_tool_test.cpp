// farm-admin (ping / end-server / info) as a program, against real farm-server processes.
#include <gtest/gtest.h>

#include <thread>

#include "farm/client/kernel.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/tls_pki.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;
using rfarm::test::FarmServerProcess;

std::string admin() { return tool_path("RFARM_FARM_ADMIN"); }

std::string port_of(const std::string& spec) { return spec.substr(spec.rfind(':') + 1); }

TEST(FarmAdminTool, PingInBothFormsAndInfo) {
  auto s = FarmServerProcess::start(BackendKind::epoll);
  ASSERT_TRUE(s);
  auto r = run_tool({admin(), "ping", "127.0.0.1", port_of(s->spec())});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("answered in"), std::string::npos) << r.out;
  r = run_tool({admin(), "ping", s->spec()});
  EXPECT_EQ(r.status, 0) << describe(r);
  r = run_tool({admin(), "info", s->spec()});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("\"count_primes\""), std::string::npos) << r.out;
}

TEST(FarmAdminTool, PingKeepsTryingUntilTheServerAppears) {
  std::string spec;
  {
    auto probe = FarmServerProcess::start(BackendKind::epoll);
    ASSERT_TRUE(probe);
    spec = probe->spec();
  }
  auto none = run_tool({admin(), "ping", spec, "--timeout", "0.3"});
  EXPECT_EQ(none.status, 1) << describe(none);
  EXPECT_NE(none.err.find("no answer"), std::string::npos) << none.err;
  std::unique_ptr<FarmServerProcess> late;
  std::thread starter([&] {
    std::this_thread::sleep_for(300ms);
    if (auto started = FarmServerProcess::start(BackendKind::epoll, spec))
      late = std::make_unique<FarmServerProcess>(std::move(*started));
  });
  auto r = run_tool({admin(), "ping", spec, "--timeout", "10"});
  starter.join();
  ASSERT_TRUE(late);
  EXPECT_EQ(r.status, 0) << describe(r);
}

TEST(FarmAdminTool, EndServerLetsOpenConnectionsFinishThenTheServerExits) {
  auto s = FarmServerProcess::start(BackendKind::epoll);
  ASSERT_TRUE(s);
  farm::KernelOptions options;
  options.servers = {s->spec()};
  options.log_level = LogLevel::off;
  auto kernel = farm::Kernel::start(options);
  ASSERT_TRUE(kernel);
  ASSERT_TRUE(kernel->wait_ready(1, 5s));
  auto r = run_tool({admin(), "end-server", "127.0.0.1", port_of(s->spec())});
  EXPECT_EQ(r.status, 0) << describe(r);
  // No new connections...
  auto ping = run_tool({admin(), "ping", s->spec(), "--timeout", "0.3"});
  EXPECT_EQ(ping.status, 1) << describe(ping);
  // ...but the kernel's goes on being served,
  EXPECT_EQ(kernel->future<std::int64_t>("count_primes", 0, 100).force(), 25);
  // and the server exits 0 once it closes.
  kernel->close();
  EXPECT_EQ(s->wait(5000ms), 0);
}

TEST(FarmAdminTool, PingAndInfoOverTlsWithAClientCertificate) {
  const TlsPki& pki = tls_pki();
  if (!pki.ok()) GTEST_SKIP() << pki.error;
  auto s = FarmServerProcess::start(BackendKind::epoll, "tls:127.0.0.1:0",
                                    {"--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-ca", pki.ca_cert,
                                     "--allow-subject", "CN=rfarm test client,O=rfarm test"});
  ASSERT_TRUE(s);
  const std::vector<std::string> mine{"--tls-cert", pki.client_cert, "--tls-key", pki.client_key, "--tls-ca", pki.ca_cert};
  auto with = [](std::vector<std::string> argv, const std::vector<std::string>& more) {
    argv.insert(argv.end(), more.begin(), more.end());
    return argv;
  };
  auto r = run_tool(with({admin(), "ping", s->spec()}, mine));
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("answered in"), std::string::npos) << r.out;
  r = run_tool(with({admin(), "info", s->spec()}, mine));
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("\"count_primes\""), std::string::npos) << r.out;

  // Another subject: the server's reason, at once (a refusal is an answer, not a reason to keep pinging).
  r = run_tool(with({admin(), "ping", s->spec(), "--timeout", "20"},
                    {"--tls-cert", pki.revoked_cert, "--tls-key", pki.revoked_key, "--tls-ca", pki.ca_cert}));
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_NE(r.err.find("is not allowed"), std::string::npos) << r.err;
  // No certificate: the TLS alert, named.
  r = run_tool({admin(), "ping", s->spec(), "--timeout", "20", "--tls-ca", pki.ca_cert});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_NE(r.err.find("certificate"), std::string::npos) << r.err;
  // A file that is not there: named with its option, as echo-client and farm-server do.
  r = run_tool({admin(), "ping", s->spec(), "--tls-cert", "/nonexistent.pem", "--tls-key", pki.client_key});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_NE(r.err.find("--tls-cert /nonexistent.pem: cannot read"), std::string::npos) << r.err;
  // --tls-* on a plaintext endpoint is a usage error naming the option; a certificate needs its key.
  r = run_tool({admin(), "ping", "tcp:127.0.0.1:1", "--tls-ca", pki.ca_cert});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("--tls-ca is only for a tls: server"), std::string::npos) << r.err;
  r = run_tool({admin(), "ping", s->spec(), "--tls-cert", pki.client_cert});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("--tls-key"), std::string::npos) << r.err;
  EXPECT_EQ(s->terminate(), 0);
}

TEST(FarmAdminTool, UsageErrors) {
  auto r = run_tool({admin(), "ping"});
  EXPECT_EQ(r.status, 2);
  r = run_tool({admin(), "ping", "tcp:127.0.0.1"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("missing port"), std::string::npos) << r.err;
  r = run_tool({admin(), "ping", "127.0.0.1", "1", "--timeout", "x"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--timeout"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rfarm::test

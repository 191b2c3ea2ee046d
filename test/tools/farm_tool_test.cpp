// farm (submit / map / broadcast) as a program, against real farm-server processes with the example module.
#include <gtest/gtest.h>

#include <fstream>

#include "test/support/farm_server_process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/tls_pki.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using rfarm::test::FarmServerProcess;

std::string farm_tool() { return tool_path("RFARM_FARM"); }

class FarmToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = FarmServerProcess::start(BackendKind::epoll);
    ASSERT_TRUE(s);
    a_.emplace(std::move(*s));
  }
  std::optional<FarmServerProcess> a_;
};

TEST_F(FarmToolTest, SubmitPrintsNumbersStringsAndJson) {
  auto r = run_tool({farm_tool(), "submit", "--server", a_->spec(), "count_primes", "0", "1000000"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "78498\n");
  r = run_tool({farm_tool(), "submit", "--server", a_->spec(), "echo", "-5", "2.5", "[1,{\"a\":null}]", "\"7\"", "x"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "[-5, 2.5, [1, {\"a\": null}], \"7\", \"x\"]\n");
  r = run_tool({farm_tool(), "submit", "--server", a_->spec(), "echo", "plain"});
  EXPECT_EQ(r.out, "[\"plain\"]\n");
}

TEST_F(FarmToolTest, RemoteFailureGoesToStderrWithExit1) {
  auto r = run_tool({farm_tool(), "submit", "--server", a_->spec(), "fail", "disk on fire"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(r.err, "farm: task 'fail' failed (task_error): disk on fire\n");
}

TEST_F(FarmToolTest, MapPrintsOneResultPerLineInInputOrder) {
  auto b = FarmServerProcess::start(BackendKind::epoll);
  ASSERT_TRUE(b);
  TempDir dir;
  std::string input = dir.file("ranges");
  std::string expected;
  {
    std::ofstream out(input);
    for (int i = 0; i < 300; ++i) {
      out << 0 << ' ' << (i % 3 == 0 ? 100 : i % 3 == 1 ? 1000 : 20000) << '\n';
      expected += i % 3 == 0 ? "25\n" : i % 3 == 1 ? "168\n" : "2262\n";
    }
    out << "-5 3\n";  // a failing line
  }
  auto r = run_tool({farm_tool(), "map", "--server", a_->spec(), "--server", b->spec(), "count_primes", input});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_EQ(r.out, expected + "\n");
  EXPECT_NE(r.err.find("farm: line 301: task 'count_primes' failed (task_error)"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos);  // no progress bar: stderr is not a terminal
}

TEST_F(FarmToolTest, BroadcastAnswersOncePerServer) {
  auto b = FarmServerProcess::start(BackendKind::epoll);
  ASSERT_TRUE(b);
  auto r = run_tool({farm_tool(), "broadcast", "--server", a_->spec(), "--server", b->spec(), "echo", "x"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "[\"x\"]\n[\"x\"]\n");
}

TEST_F(FarmToolTest, UsageErrorsNameTheOption) {
  auto r = run_tool({farm_tool(), "submit", "echo"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--server"), std::string::npos) << r.err;
  r = run_tool({farm_tool(), "submit", "--server", "tcp:127.0.0.1", "echo"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("missing port"), std::string::npos) << r.err;
  r = run_tool({farm_tool(), "submit", "--server", a_->spec(), "echo", "[1,"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("argument 1: bad JSON"), std::string::npos) << r.err;
  r = run_tool({farm_tool(), "--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("broadcast"), std::string::npos);
}

TEST_F(FarmToolTest, SubmitAndBroadcastOverTls) {
  const TlsPki& pki = tls_pki();
  if (!pki.ok()) GTEST_SKIP() << pki.error;
  auto s = FarmServerProcess::start(BackendKind::epoll, "tls:127.0.0.1:0",
                                    {"--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-ca", pki.ca_cert,
                                     "--allow-subject", "CN=rfarm test client,O=rfarm test"});
  ASSERT_TRUE(s);
  // Options after TASK are the task's arguments, so the TLS options come before it.
  auto r = run_tool({farm_tool(), "submit", "--server", s->spec(), "--tls-cert", pki.client_cert, "--tls-key",
                     pki.client_key, "--tls-ca", pki.ca_cert, "count_primes", "0", "100"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "25\n");
  r = run_tool({farm_tool(), "broadcast", "--server", s->spec(), "--server", a_->spec(), "--tls-cert", pki.client_cert,
                "--tls-key", pki.client_key, "--tls-ca", pki.ca_cert, "echo", "x"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "[\"x\"]\n[\"x\"]\n");
  // Another subject: the server's refusal on stderr, exit 1, well before --timeout.
  r = run_tool({farm_tool(), "submit", "--server", s->spec(), "--timeout", "30", "--tls-cert", pki.revoked_cert,
                "--tls-key", pki.revoked_key, "--tls-ca", pki.ca_cert, "echo", "x"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_NE(r.err.find("is not allowed"), std::string::npos) << r.err;
  r = run_tool({farm_tool(), "submit", "--server", a_->spec(), "--tls-ca", pki.ca_cert, "echo", "x"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.err.find("--tls-ca is only for a tls: server"), std::string::npos) << r.err;
  EXPECT_EQ(s->terminate(), 0);
}

TEST_F(FarmToolTest, NoServerFailsAfterTimeout) {
  auto r = run_tool({farm_tool(), "submit", "--server", "tcp:127.0.0.1:1", "--timeout", "0.3", "echo"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_NE(r.err.find("deadline_exceeded"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace rfarm::test

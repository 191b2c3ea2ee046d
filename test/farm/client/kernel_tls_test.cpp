// The Kernel over tls: against real farm-server processes that require client certificates (--tls-ca) and allow
// one subject (--allow-subject), on both backends: the allowed subject runs tasks; another subject and no
// certificate at all get the server's refusal as the tasks' error, promptly (not a hang, not a retry loop that
// hides it); farm-admin's library pings over TLS and reports the refusal the same way.
#include <gtest/gtest.h>

#include "farm/admin/admin.hpp"
#include "farm/client/channel.hpp"
#include "farm/client/kernel.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/tls_pki.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::test::tls_pki;
using rfarm::test::FarmServerProcess;

constexpr const char* kClientSubject = "CN=rfarm test client,O=rfarm test";  // tls_pki's client certificate

class KernelTlsTest : public rfarm::test::BackendTest {
 protected:
  void SetUp() override {
    if (!tls_pki().ok()) GTEST_SKIP() << tls_pki().error;
  }
  FarmServerProcess tls_server() {
    const auto& pki = tls_pki();
    auto s = FarmServerProcess::start(GetParam(), "tls:127.0.0.1:0",
                                      {"--tls-cert", pki.server_cert, "--tls-key", pki.server_key, "--tls-ca",
                                       pki.ca_cert, "--allow-subject", kClientSubject});
    if (!s) throw std::runtime_error("farm-server did not start (RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS)");
    return std::move(*s);
  }
  Kernel start(const std::string& server, FarmTlsOptions tls) {
    KernelOptions o;
    o.servers = {server};
    o.tls = std::move(tls);
    o.backend = GetParam();
    o.log_level = LogLevel::off;
    o.backoff = {.initial = 5ms, .max = 100ms};
    o.call_timeout = 10s;
    auto k = Kernel::start(std::move(o));
    if (!k) throw std::runtime_error("Kernel::start: " + k.error().message());
    return std::move(*k);
  }
  // The outcome of one add task, or a failure saying the wait itself timed out.
  static std::expected<std::int64_t, RemoteFailure> add_within(Kernel& kernel, Duration limit) {
    Future<std::int64_t> f = kernel.future<std::int64_t>("add", 20, 22);
    if (!f.wait_for(limit)) return std::unexpected(RemoteFailure{FailureKind::none, "no outcome in time", "add"});
    return f.wait();
  }
};

TEST_P(KernelTlsTest, AllowedSubjectRunsTasks) {
  const auto& pki = tls_pki();
  auto server = tls_server();
  ASSERT_TRUE(server.spec().starts_with("tls:")) << server.spec();
  Kernel kernel = start(server.spec(), {.ca_file = pki.ca_cert, .certificate_file = pki.client_cert,
                                        .key_file = pki.client_key});
  ASSERT_TRUE(kernel.wait_ready(1, 10s));
  auto sum = add_within(kernel, 10s);
  ASSERT_TRUE(sum) << sum.error().message;
  EXPECT_EQ(*sum, 42);
  Channel channel(kernel);
  for (int i = 0; i < 1000; ++i) channel.submit("add", i, 1);
  std::int64_t total = 0;
  for (int i = 0; i < 1000; ++i) {
    auto r = channel.try_receive_outcome(10s);
    ASSERT_TRUE(r && *r);
    total += (*r)->as<std::int64_t>().value();
  }
  EXPECT_EQ(total, 999 * 1000 / 2 + 1000);
  EXPECT_EQ(kernel.broadcast("echo", "over tls").size(), 1u);
  EXPECT_EQ(server.terminate(), 0);
}

TEST_P(KernelTlsTest, AnotherSubjectGetsTheServersRefusal) {
  const auto& pki = tls_pki();
  auto server = tls_server();
  // A certificate from the same CA with another subject (CN=localhost): TLS passes, the Welcome refuses.
  Kernel kernel = start(server.spec(), {.ca_file = pki.ca_cert, .certificate_file = pki.revoked_cert,
                                        .key_file = pki.revoked_key});
  Clock::time_point begin = Clock::now();
  auto sum = add_within(kernel, 10s);
  ASSERT_FALSE(sum);
  EXPECT_NE(sum.error().kind, FailureKind::none) << "the task hung instead of failing";
  EXPECT_LT(Clock::now() - begin, 5s);
  EXPECT_NE(sum.error().message.find("refused"), std::string::npos) << sum.error().message;
  EXPECT_NE(sum.error().message.find("is not allowed"), std::string::npos) << sum.error().message;
  EXPECT_FALSE(kernel.wait_ready(1, 200ms));
  // A task submitted later fails the same way (the kernel does not sit on it while it keeps trying).
  auto again = add_within(kernel, 10s);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("is not allowed"), std::string::npos) << again.error().message;
  EXPECT_EQ(server.terminate(), 0);
}

TEST_P(KernelTlsTest, NoCertificateGetsTheServersRefusal) {
  const auto& pki = tls_pki();
  auto server = tls_server();
  Kernel kernel = start(server.spec(), {.ca_file = pki.ca_cert});
  Clock::time_point begin = Clock::now();
  auto sum = add_within(kernel, 10s);
  ASSERT_FALSE(sum);
  EXPECT_NE(sum.error().kind, FailureKind::none) << "the task hung instead of failing";
  EXPECT_LT(Clock::now() - begin, 5s);
  // TLS 1.3: the server's "certificate required" alert arrives where the client waits for the Welcome.
  EXPECT_NE(sum.error().message.find("certificate"), std::string::npos) << sum.error().message;
  EXPECT_EQ(server.terminate(), 0);
}

TEST_P(KernelTlsTest, ServerCertificateIsChecked) {
  const auto& pki = tls_pki();
  auto server = tls_server();
  // The right client certificate, but the server's certificate does not chain to the CA we trust.
  Kernel kernel = start(server.spec(), {.ca_file = pki.rogue_ca_cert, .certificate_file = pki.client_cert,
                                        .key_file = pki.client_key});
  auto sum = add_within(kernel, 10s);
  ASSERT_FALSE(sum);
  EXPECT_NE(sum.error().message.find("TLS handshake"), std::string::npos) << sum.error().message;
  EXPECT_EQ(server.terminate(), 0);
}

TEST_P(KernelTlsTest, AdminPingOverTls) {
  const auto& pki = tls_pki();
  auto server = tls_server();
  admin::AdminOptions options;
  options.backend = GetParam();
  options.timeout = 5s;
  options.tls = {.ca_file = pki.ca_cert, .certificate_file = pki.client_cert, .key_file = pki.client_key};
  auto pong = admin::ping(server.spec(), options);
  ASSERT_TRUE(pong) << pong.error().message;
  EXPECT_FALSE(pong->server_version.empty());

  options.tls = {.ca_file = pki.ca_cert, .certificate_file = pki.revoked_cert, .key_file = pki.revoked_key};
  Clock::time_point begin = Clock::now();
  auto refused = admin::ping(server.spec(), options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, FarmErrc::handshake_refused) << refused.error().message;
  EXPECT_NE(refused.error().message.find("is not allowed"), std::string::npos) << refused.error().message;
  EXPECT_LT(Clock::now() - begin, 4s) << "a refusal is an answer: ping must not retry it until the timeout";
  EXPECT_EQ(server.terminate(), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelTlsTest);

}  // namespace
}  // namespace rfarm::farm

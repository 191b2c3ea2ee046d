// echo-client, tested as a program against real peers: the built echo-server (tcp:, unix:, tls: with and
// without client certificates), a port nobody listens on, and Python peers that accept and then fall silent.
// What it must do: report the echoes and percentiles when it measured some, fail with status 1 and one line
// saying why when it could not (no "p50 0.0 us"), and never wait longer than --timeout on any step.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "test/support/child_process.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/tls_pki.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

// Listens on 127.0.0.1, prints its port, accepts every connection and never reads from or writes to one.
constexpr const char* kSilentPeer = R"(
import socket, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)
)";

// Echoes the first N bytes of each connection, then holds the connection open without closing it.
constexpr const char* kEchoThenHold = R"(
import socket, sys, threading
n = int(sys.argv[1])
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
def serve(c):
    got = b''
    while len(got) < n:
        d = c.recv(n - len(got))
        if not d: return
        got += d
    c.sendall(got)
while True:
    c, _ = s.accept(); held.append(c); threading.Thread(target=serve, args=(c,), daemon=True).start()
)";

class EchoClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = tool_path("RFARM_ECHO_CLIENT");
    server_program_ = tool_path("RFARM_ECHO_SERVER");
    if (client_.empty() || server_program_.empty())
      GTEST_SKIP() << "RFARM_ECHO_CLIENT / RFARM_ECHO_SERVER are not set (run through meson test)";
  }

  // Starts echo-server with the arguments; its first line (the endpoint), or "" if none came.
  std::string start_server(std::vector<std::string> args) {
    args.insert(args.begin(), server_program_);
    auto child = ChildProcess::spawn(args);
    if (!child) return {};
    server_.emplace(std::move(*child));
    return server_->read_line(10s).value_or("");
  }

  // Starts a Python peer script; the port it printed (0 if none).
  std::uint16_t start_python_peer(const char* script, std::vector<std::string> args = {}) {
    args.insert(args.begin(), {python3(), "-c", script});
    auto child = ChildProcess::spawn(args);
    if (!child) return 0;
    peer_.emplace(std::move(*child));
    auto line = peer_->read_line(10s);
    return line ? static_cast<std::uint16_t>(std::stoi(*line)) : 0;
  }

  ToolRun client(std::vector<std::string> args, std::chrono::milliseconds limit = 30s) {
    args.insert(args.begin(), client_);
    return run_tool(args, {}, limit);
  }

  // A failure that measured nothing: status 1, one line on stderr that contains `says`, no figures.
  void expect_clean_failure(const ToolRun& r, const std::string& says) {
    EXPECT_EQ(r.status, 1) << describe(r);
    EXPECT_EQ(r.out.find("p50"), std::string::npos) << "no percentiles without measurements:\n" << r.out;
    EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_TRUE(r.err.starts_with("echo-client: ")) << r.err;
    EXPECT_NE(r.err.find(says), std::string::npos) << "wanted '" << says << "' in: " << r.err;
  }

  void expect_echoed(const ToolRun& r, const std::string& count) {
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_NE(r.out.find(count + " messages of"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("echoed intact"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("round trip p50 "), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }

  std::string client_;
  std::string server_program_;
  std::optional<ChildProcess> server_;
  std::optional<ChildProcess> peer_;
};

// --- plain transports --------------------------------------------------------------------------------------

class EchoClientBackendTest : public EchoClientTest, public ::testing::WithParamInterface<std::string> {
 protected:
  // A client asked for io_uring where it cannot have it (the kernel refuses, or the build has no liburing:
  // meson -During=disabled) runs on epoll and says so on stderr: nothing this test can check on uring.
  bool fell_back(const ToolRun& r) const { return r.err.find("falling back to epoll") != std::string::npos; }
};

TEST_P(EchoClientBackendTest, EchoesOverTcpAndReportsPercentiles) {
  std::string endpoint = start_server({"--listen", "tcp:127.0.0.1:0"});
  ASSERT_TRUE(endpoint.starts_with("tcp:127.0.0.1:")) << endpoint;
  ToolRun r = client({"--connect", endpoint, "--conns", "3", "--messages", "200", "--size", "100", "--backend",
                      GetParam()});
  if (fell_back(r)) GTEST_SKIP() << "the client did not run on " << GetParam() << ": " << r.err;
  expect_echoed(r, "600 of 600");
  if (r.status == 0 && r.out.find("(" + GetParam() + " backend)") == std::string::npos)
    GTEST_SKIP() << "the client did not run on " << GetParam() << " (io_uring unavailable?): " << r.out;
}

TEST_P(EchoClientBackendTest, EchoesOverAUnixPath) {
  TempDir dir;
  std::string endpoint = start_server({"--listen", "unix:" + dir.file("echo.sock")});
  ASSERT_TRUE(endpoint.starts_with("unix:/")) << endpoint;
  ToolRun r = client({"--connect", endpoint, "--messages", "50", "--backend", GetParam()});
  if (fell_back(r)) GTEST_SKIP() << "the client did not run on " << GetParam() << ": " << r.err;
  expect_echoed(r, "50 of 50");
}

INSTANTIATE_TEST_SUITE_P(Backends, EchoClientBackendTest, ::testing::Values("epoll", "uring"),
                         [](const auto& info) { return info.param; });

TEST_F(EchoClientTest, ResolvesAHostName) {
  std::string endpoint = start_server({"--listen", "tcp:127.0.0.1:0"});
  ASSERT_TRUE(endpoint.starts_with("tcp:127.0.0.1:")) << endpoint;
  std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  expect_echoed(client({"--connect", "localhost:" + port, "--messages", "10"}), "10 of 10");
}

TEST_F(EchoClientTest, ConnectionRefusedIsOneLineAndNoPercentiles) {
  // A bound socket that does not listen: connecting to it is refused, and nobody else can take the port.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  socklen_t len = sizeof sin;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  std::string endpoint = "tcp:127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
  ToolRun one = client({"--connect", endpoint});
  ToolRun many = client({"--connect", endpoint, "--conns", "4"});
  ::close(fd);
  expect_clean_failure(one, endpoint + ": connect: Connection refused");
  expect_clean_failure(many, "all 4 connections failed");
}

TEST_F(EchoClientTest, UnknownHostIsOneLineNamingIt) {
  ToolRun r = client({"--connect", "tcp:no-such-host.invalid:7", "--timeout", "10"});
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_NE(r.err.find("no-such-host.invalid"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("p50"), std::string::npos) << r.out;
}

// --- timeouts ----------------------------------------------------------------------------------------------

TEST_F(EchoClientTest, ASilentServerFailsWithinTheTimeout) {
  std::uint16_t port = start_python_peer(kSilentPeer);
  ASSERT_NE(port, 0) << "the Python peer did not start";
  ToolRun r = client({"--connect", "tcp:127.0.0.1:" + std::to_string(port), "--timeout", "1"}, 20s);
  expect_clean_failure(r, "no echo of message 1 within 1 s");
  EXPECT_LT(r.took, 6s) << "took " << r.took.count() << " ms for a 1 s timeout";
  EXPECT_GE(r.took, 900ms) << "gave up before the timeout";
}

TEST_F(EchoClientTest, AServerThatNeverClosesFailsWithinTheTimeout) {
  std::uint16_t port = start_python_peer(kEchoThenHold, {"64"});
  ASSERT_NE(port, 0) << "the Python peer did not start";
  ToolRun r = client({"--connect", "tcp:127.0.0.1:" + std::to_string(port), "--messages", "1", "--size", "64",
                      "--timeout", "1"},
                     20s);
  EXPECT_EQ(r.status, 1) << describe(r);
  EXPECT_NE(r.out.find("1 of 1 messages"), std::string::npos) << "the one echo was measured:\n" << r.out;
  EXPECT_NE(r.err.find("did not close within 1 s"), std::string::npos) << r.err;
  EXPECT_LT(r.took, 6s);
}

TEST_F(EchoClientTest, ASilentTlsServerFailsTheHandshakeWithinTheTimeout) {
  std::uint16_t port = start_python_peer(kSilentPeer);
  ASSERT_NE(port, 0);
  ToolRun r = client({"--connect", "tls:127.0.0.1:" + std::to_string(port), "--insecure-skip-verify", "--timeout",
                      "1"},
                     20s);
  expect_clean_failure(r, "no TLS handshake within 1 s");
  EXPECT_LT(r.took, 6s);
}

// --- TLS ---------------------------------------------------------------------------------------------------

class EchoClientTlsTest : public EchoClientTest {
 protected:
  void SetUp() override {
    EchoClientTest::SetUp();
    if (IsSkipped()) return;
    if (!tls_pki().ok()) GTEST_SKIP() << tls_pki().error;
  }
  const TlsPki& pki() { return tls_pki(); }

  std::string start_tls_server(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--listen", "tls:127.0.0.1:0", "--tls-cert", pki().server_cert, "--tls-key",
                                  pki().server_key};
    args.insert(args.end(), extra.begin(), extra.end());
    return start_server(args);
  }
};

TEST_F(EchoClientTlsTest, EchoesThroughEchoServerOverTls) {
  std::string endpoint = start_tls_server();
  ASSERT_TRUE(endpoint.starts_with("tls:127.0.0.1:")) << endpoint;
  expect_echoed(client({"--connect", endpoint, "--tls-ca", pki().ca_cert, "--conns", "2", "--messages", "100"}),
                "200 of 200");
}

TEST_F(EchoClientTlsTest, VerifiesTheHostNameItConnectsTo) {
  std::string endpoint = start_tls_server();
  ASSERT_TRUE(endpoint.starts_with("tls:127.0.0.1:")) << endpoint;
  std::string port = endpoint.substr(endpoint.rfind(':') + 1);
  expect_echoed(client({"--connect", "tls:localhost:" + port, "--tls-ca", pki().ca_cert, "--messages", "5"}),
                "5 of 5");
}

TEST_F(EchoClientTlsTest, AnUntrustedServerIsRefused) {
  std::string endpoint = start_server({"--listen", "tls:127.0.0.1:0", "--tls-cert", pki().rogue_cert, "--tls-key",
                                       pki().rogue_key});
  ASSERT_TRUE(endpoint.starts_with("tls:")) << endpoint;
  expect_clean_failure(client({"--connect", endpoint, "--tls-ca", pki().ca_cert}), "TLS handshake: ");
  // Without --tls-ca the system's CAs are the anchors: the test CA is not among them either.
  expect_clean_failure(client({"--connect", endpoint}), "TLS handshake: ");
  // Unless verification is explicitly switched off.
  expect_echoed(client({"--connect", endpoint, "--insecure-skip-verify", "--messages", "3"}), "3 of 3");
}

TEST_F(EchoClientTlsTest, PresentsAClientCertificateWhenTheServerRequiresOne) {
  std::string endpoint = start_tls_server({"--tls-ca", pki().ca_cert, "--require-client-cert"});
  ASSERT_TRUE(endpoint.starts_with("tls:")) << endpoint;
  expect_echoed(client({"--connect", endpoint, "--tls-ca", pki().ca_cert, "--tls-cert", pki().client_cert,
                        "--tls-key", pki().client_key, "--messages", "20"}),
                "20 of 20");
  ToolRun without = client({"--connect", endpoint, "--tls-ca", pki().ca_cert});
  EXPECT_EQ(without.status, 1) << describe(without);
  EXPECT_EQ(without.out.find("p50"), std::string::npos) << without.out;
}

TEST_F(EchoClientTlsTest, UnreadableTlsFilesAreNamedByOption) {
  std::string endpoint = "tls:127.0.0.1:9";  // never reached: the files are checked first
  ToolRun ca = client({"--connect", endpoint, "--tls-ca", "/nonexistent/ca.pem"});
  expect_clean_failure(ca, "--tls-ca /nonexistent/ca.pem: cannot read: No such file or directory");
  ToolRun cert = client({"--connect", endpoint, "--tls-cert", "/nonexistent/c.pem", "--tls-key", pki().client_key});
  expect_clean_failure(cert, "--tls-cert /nonexistent/c.pem: cannot read");
  ToolRun key = client({"--connect", endpoint, "--tls-cert", pki().client_cert, "--tls-key", "/nonexistent/k.pem"});
  expect_clean_failure(key, "--tls-key /nonexistent/k.pem: cannot read");
}

TEST_F(EchoClientTlsTest, TlsFilesOpensslRejectsAreNamedByOption) {
  std::string endpoint = "tls:127.0.0.1:9";
  // A key where a CA file belongs, a key where a certificate belongs, a key that is not the certificate's.
  expect_clean_failure(client({"--connect", endpoint, "--tls-ca", pki().client_key}),
                       "--tls-ca " + pki().client_key + ": ");
  expect_clean_failure(client({"--connect", endpoint, "--tls-cert", pki().client_key, "--tls-key", pki().client_key}),
                       "--tls-cert " + pki().client_key + ": not a PEM certificate");
  expect_clean_failure(client({"--connect", endpoint, "--tls-cert", pki().client_cert, "--tls-key", pki().server_key}),
                       "--tls-key " + pki().server_key + ": ");
}

}  // namespace
}  // namespace rfarm::test

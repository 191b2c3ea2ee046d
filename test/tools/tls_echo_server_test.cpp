// echo-server --listen tls:HOST:PORT, tested as a program against real TLS clients: `openssl s_client` and
// Python's ssl module, with and without a required client certificate.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "test/support/tls_peers.hpp"
#include "test/support/tls_pki.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

// Connects, sends a payload of the given size, reads it back, ends with close_notify both ways; prints
// "OK <bytes>".
constexpr const char* kPythonEchoClient = R"PY(
import socket, ssl, sys
port, ca, cert, key, size = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ctx = ssl.create_default_context(cafile=ca)
if cert != "-":
    ctx.load_cert_chain(cert, key)
payload = bytes((i * 7 + 3) % 256 for i in range(size))
try:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        s.sendall(payload)
        back = b""
        while len(back) < len(payload):
            d = s.recv(65536)
            if not d:
                break
            back += d
        s.unwrap()
    print("OK" if back == payload else "MISMATCH", len(back), flush=True)
except (ssl.SSLError, OSError) as e:
    print("ERROR", e, flush=True)
    sys.exit(3)
)PY";

class TlsEchoServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* server = std::getenv("RFARM_ECHO_SERVER");
    if (server == nullptr || *server == '\0') GTEST_SKIP() << "RFARM_ECHO_SERVER is not set (run through meson test)";
    echo_server_ = server;
    if (!tls_pki().ok()) GTEST_SKIP() << tls_pki().error;
  }

  const TlsPki& pki() { return tls_pki(); }

  // Starts echo-server in TLS mode; returns its port (0 if it did not print its endpoint).
  std::uint16_t start(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{echo_server_,      "--listen",  "tls:127.0.0.1:0", "--tls-cert",
                                  pki().server_cert, "--tls-key", pki().server_key};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = ChildProcess::spawn(argv);
    if (!child) return 0;
    server_.emplace(std::move(*child));
    auto line = server_->read_line(10s);
    if (!line || !line->starts_with("tls:127.0.0.1:")) return 0;
    return static_cast<std::uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  }

  std::string echo_server_;
  std::optional<ChildProcess> server_;
};

TEST_F(TlsEchoServerTest, PrintsItsTlsEndpointAndEchoesToOpensslClient) {
  std::uint16_t port = start();
  ASSERT_NE(port, 0);
  auto client = start_openssl_client(
      port, {"-quiet", "-no_ign_eof", "-CAfile", pki().ca_cert, "-verify_return_error", "-servername", "localhost"});
  ASSERT_TRUE(client);
  client->write("hello over tls\n");
  std::optional<std::string> line;
  for (int i = 0; i < 20; ++i) {  // s_client's verification report ("depth=1 ...") comes first
    line = client->read_line(10s);
    if (!line || *line == "hello over tls") break;
  }
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "hello over tls");
  client->close_stdin();  // s_client sends close_notify; echo-server answers with its own
  EXPECT_EQ(client->wait(10s), 0);
  server_->terminate();
  EXPECT_EQ(server_->wait(10s), 0);
}

TEST_F(TlsEchoServerTest, EchoesToPythonSsl) {
  if (!python3_has_ssl()) GTEST_SKIP() << "python3 with the ssl module is not installed";
  std::uint16_t port = start();
  ASSERT_NE(port, 0);
  auto py = start_python(kPythonEchoClient, {std::to_string(port), pki().ca_cert, "-", "-", "100000"});
  ASSERT_TRUE(py);
  int status = -1;
  std::string out = read_all(*py, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "OK 100000\n");
}

TEST_F(TlsEchoServerTest, RequiredClientCertificateIsEnforced) {
  if (!python3_has_ssl()) GTEST_SKIP() << "python3 with the ssl module is not installed";
  std::uint16_t port = start({"--tls-ca", pki().ca_cert, "--require-client-cert"});
  ASSERT_NE(port, 0);
  // A small payload: the refusal (a TLS 1.3 alert after the client's handshake) is read, not lost to a reset.
  auto without = start_python(kPythonEchoClient, {std::to_string(port), pki().ca_cert, "-", "-", "10"});
  ASSERT_TRUE(without);
  int status = -1;
  std::string out = read_all(*without, &status);
  EXPECT_EQ(status, 3) << out;
  EXPECT_NE(out.find("certificate required"), std::string::npos) << out;

  auto with = start_python(kPythonEchoClient,
                           {std::to_string(port), pki().ca_cert, pki().client_cert, pki().client_key, "100000"});
  ASSERT_TRUE(with);
  out = read_all(*with, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out, "OK 100000\n");
}

TEST_F(TlsEchoServerTest, UnreadableCertificateStopsItAtStartWithTheReason) {
  auto child = spawn_merged({echo_server_, "--listen", "tls:127.0.0.1:0", "--tls-cert", "/nonexistent/cert.pem",
                             "--tls-key", pki().server_key});
  ASSERT_TRUE(child);
  int status = -1;
  std::string out = read_all(*child, &status);
  EXPECT_EQ(status, 1) << out;
  EXPECT_NE(out.find("--tls-cert /nonexistent/cert.pem: cannot read: No such file or directory"), std::string::npos)
      << out;
}

// What OpenSSL refuses is reported against the option that brought the file, with OpenSSL's reason.
TEST_F(TlsEchoServerTest, EachTlsFileProblemNamesItsOption) {
  struct Case {
    std::vector<std::string> files;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--tls-cert", pki().server_cert, "--tls-key", "/nonexistent/key.pem"},
       "--tls-key /nonexistent/key.pem: cannot read"},
      {{"--tls-cert", pki().server_key, "--tls-key", pki().server_key},
       "--tls-cert " + pki().server_key + ": not a PEM certificate"},
      {{"--tls-cert", pki().server_cert, "--tls-key", pki().client_key}, "--tls-key " + pki().client_key + ": "},
      {{"--tls-cert", pki().server_cert, "--tls-key", pki().server_key, "--tls-ca", pki().server_key},
       "--tls-ca " + pki().server_key + ": "},
      {{"--tls-cert", pki().server_cert, "--tls-key", pki().server_key, "--tls-ca", "/nonexistent/ca.pem"},
       "--tls-ca /nonexistent/ca.pem: cannot read"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> argv{echo_server_, "--listen", "tls:127.0.0.1:0"};
    argv.insert(argv.end(), c.files.begin(), c.files.end());
    auto child = spawn_merged(argv);
    ASSERT_TRUE(child);
    int status = -1;
    std::string out = read_all(*child, &status);
    EXPECT_EQ(status, 1) << c.says << "\n" << out;
    EXPECT_TRUE(out.starts_with("echo-server: " + c.says)) << "wanted '" << c.says << "' in:\n" << out;
    EXPECT_EQ(out.find("tls:127.0.0.1:"), std::string::npos) << "it must not listen:\n" << out;
  }
}

}  // namespace
}  // namespace rfarm::test

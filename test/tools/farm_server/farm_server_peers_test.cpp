// farm-server against real peers that are not rfarm: the Python client (test/farm/python/server_session.py, on
// `flatc --python` output and Debian's python3-flatbuffers) over tcp:, unix: and tls:, `openssl s_client`, and
// the security checks they meet: TLS mutual authentication with a subject allow-list, Unix socket mode and the
// peer-uid allow-list (SO_PEERCRED).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "test/support/child_process.hpp"
#include "test/support/farm_test_client.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/tls_peers.hpp"
#include "test/support/tls_pki.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

constexpr const char* kClientSubject = "CN=rfarm test client,O=rfarm test";  // RFC 2253, as the server prints it

class FarmServerPeersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tool_path("RFARM_FARM_SERVER").empty()) GTEST_SKIP() << "RFARM_FARM_SERVER is not set (run through meson test)";
    python_ = tool_path("RFARM_PYTHON3_FLATBUFFERS");
    session_ = tool_path("RFARM_FARM_SERVER_SESSION");
  }

  bool have_python() const { return !python_.empty() && !session_.empty(); }

  // server_session.py's lines (JSON objects) until DONE.
  std::vector<std::string> python_session(const EndpointSpec& endpoint, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{python_, session_, endpoint.to_string()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = spawn_merged(argv);
    EXPECT_TRUE(child) << child.error().message();
    if (!child) return {};
    std::vector<std::string> lines;
    for (int i = 0; i < 20; ++i) {
      auto line = child->read_line(15s);
      if (!line || *line == "DONE") break;
      lines.push_back(*line);
    }
    child->wait(5s);
    return lines;
  }

  static bool has(const std::vector<std::string>& lines, const std::string& piece) {
    for (const auto& l : lines)
      if (l.find(piece) != std::string::npos) return true;
    return false;
  }
  static std::string joined(const std::vector<std::string>& lines) {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }

  void expect_full_session(const std::vector<std::string>& lines) {
    ASSERT_EQ(lines.size(), 7u) << joined(lines);
    EXPECT_TRUE(has(lines, R"("accepted": true)")) << joined(lines);
    EXPECT_TRUE(has(lines, R"({"task_id": 1, "type": "result", "value": 42})")) << joined(lines);
    EXPECT_TRUE(has(lines, R"({"task_id": 2, "type": "result", "value": ["x", [1, 2.5], {"k": null}]})")) << joined(lines);
    EXPECT_TRUE(has(lines, R"({"kind": "task_error", "message": "boom", "task": "fail", "task_id": 3, "type": "failure"})"))
        << joined(lines);
    EXPECT_TRUE(has(lines, R"("kind": "bad_arguments", "message": "argument 2 of 'add')")) << joined(lines);
    EXPECT_TRUE(has(lines, R"({"task_id": 5, "type": "result", "value": null})")) << joined(lines);
    EXPECT_TRUE(has(lines, R"({"nonce": 99, "type": "pong"})")) << joined(lines);
  }

  std::unique_ptr<FarmServerProcess> start_tls(std::vector<std::string> extra) {
    const TlsPki& pki = tls_pki();
    std::vector<std::string> args{"--listen", "tls:127.0.0.1:0", "--threads", "2", "--tls-cert", pki.server_cert,
                                  "--tls-key", pki.server_key, "--tls-ca", pki.ca_cert, "--log-level", "info"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto server = FarmServerProcess::start(args);
    EXPECT_TRUE(server->ok()) << server->failure;
    return server;
  }

  std::string python_;
  std::string session_;
};

TEST_F(FarmServerPeersTest, PythonClientOverTcpAndUnix) {
  if (!have_python()) GTEST_SKIP() << "no python3 with the flatbuffers module (Debian: python3-flatbuffers)";
  TempDir dir;
  auto server = FarmServerProcess::start(
      {"--listen", "tcp:127.0.0.1:0", "--listen", "unix:" + dir.file("farm.sock"), "--threads", "2"});
  ASSERT_TRUE(server->ok()) << server->failure;
  for (const EndpointSpec& endpoint : server->endpoints) {
    SCOPED_TRACE(endpoint.to_string());
    expect_full_session(python_session(endpoint));
  }
}

TEST_F(FarmServerPeersTest, TlsAdmitsTheAllowedSubjectOnly) {
  if (!have_python()) GTEST_SKIP() << "no python3 with the flatbuffers module (Debian: python3-flatbuffers)";
  if (!tls_pki().ok()) GTEST_SKIP() << tls_pki().error;
  const TlsPki& pki = tls_pki();
  auto server = start_tls({"--allow-subject", kClientSubject});
  ASSERT_TRUE(server->ok());
  const EndpointSpec& endpoint = server->endpoints.at(0);
  EXPECT_EQ(endpoint.transport, Transport::tls);

  expect_full_session(python_session(endpoint, {"--ca", pki.ca_cert, "--cert", pki.client_cert, "--key", pki.client_key}));

  // Another certificate from the same CA: TLS succeeds, the Welcome refuses naming the subject, then closes.
  auto other = python_session(endpoint, {"--ca", pki.ca_cert, "--cert", pki.revoked_cert, "--key", pki.revoked_key});
  ASSERT_GE(other.size(), 2u) << joined(other);
  EXPECT_TRUE(has(other, R"("accepted": false)")) << joined(other);
  EXPECT_TRUE(has(other, "is not allowed")) << joined(other);
  EXPECT_TRUE(has(other, R"("type": "closed")")) << joined(other);

  // No certificate: the TLS handshake itself fails (the server requires one).
  auto none = python_session(endpoint, {"--ca", pki.ca_cert});
  EXPECT_FALSE(has(none, R"("accepted": true)")) << joined(none);
  EXPECT_TRUE(has(none, "certificate required") || has(none, R"("type": "error")") || has(none, R"("type": "closed")"))
      << joined(none);

  // The server logged why, and still serves the allowed client.
  expect_full_session(python_session(endpoint, {"--ca", pki.ca_cert, "--cert", pki.client_cert, "--key", pki.client_key}));
  const std::string log = server->stderr_text();
  EXPECT_NE(log.find("is not allowed"), std::string::npos) << log;
  EXPECT_NE(log.find("TLS handshake"), std::string::npos) << log;
}

TEST_F(FarmServerPeersTest, OpensslClientWithoutACertificateIsRefused) {
  if (!tls_pki().ok()) GTEST_SKIP() << tls_pki().error;
  const TlsPki& pki = tls_pki();
  auto server = start_tls({"--allow-any-subject"});
  ASSERT_TRUE(server->ok());
  auto client = start_openssl_client(server->endpoints.at(0).address.port(),
                                     {"-CAfile", pki.ca_cert, "-servername", "localhost", "-quiet", "-verify_return_error"});
  ASSERT_TRUE(client);
  client->write("hello\n");  // TLS 1.3: the refusal is an alert after the client's side of the handshake
  int status = -1;
  std::string out = read_all(*client, &status, 10s);
  EXPECT_NE(out.find("certificate required"), std::string::npos) << out;
  EXPECT_NE(server->stderr_text().find("TLS handshake"), std::string::npos) << server->stderr_text();

  // With the certificate, the same command gets through the handshake (and the server waits for a Hello).
  auto with = start_openssl_client(server->endpoints.at(0).address.port(),
                                   {"-CAfile", pki.ca_cert, "-servername", "localhost", "-cert", pki.client_cert,
                                    "-key", pki.client_key, "-verify_return_error", "-brief"});
  ASSERT_TRUE(with);
  auto line = with->read_line(10s);
  bool connected = false;
  for (int i = 0; i < 20 && line; ++i, line = with->read_line(2s))
    if (line->find("CONNECTION ESTABLISHED") != std::string::npos) connected = true;
  EXPECT_TRUE(connected);
}

TEST_F(FarmServerPeersTest, UnixSocketModeAndUidAllowList) {
  TempDir dir;
  const std::string path = dir.file("farm.sock");
  {
    auto server = FarmServerProcess::start({"--listen", "unix:" + path, "--socket-mode", "0660", "--allow-uid",
                                            std::to_string(::geteuid()), "--log-level", "info"});
    ASSERT_TRUE(server->ok()) << server->failure;
    struct stat st{};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    auto client = FarmTestClient::connect(server->endpoints.at(0));
    ASSERT_TRUE(client);
    EXPECT_TRUE(client->handshake()) << "our own uid is on the list";
  }
  {
    const uid_t stranger = ::geteuid() == 4242 ? 4243 : 4242;
    auto server = FarmServerProcess::start({"--listen", "unix:" + path, "--allow-uid", std::to_string(stranger),
                                            "--log-level", "info"});
    ASSERT_TRUE(server->ok()) << server->failure;
    auto client = FarmTestClient::connect(server->endpoints.at(0));
    ASSERT_TRUE(client);
    auto welcome = client->hello();
    ASSERT_TRUE(welcome && welcome->is(farm::wire::Message::Welcome));
    EXPECT_FALSE(welcome->accepted);
    EXPECT_NE(welcome->message.find("uid " + std::to_string(::geteuid()) + " is not allowed"), std::string::npos)
        << welcome->message;
    EXPECT_TRUE(client->closed_by_server(5s));
    EXPECT_NE(server->stderr_text().find("is not allowed"), std::string::npos) << server->stderr_text();
  }
}

}  // namespace
}  // namespace rfarm::test

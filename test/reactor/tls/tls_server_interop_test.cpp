// The rfarm TLS server against real clients: `openssl s_client` and Python's ssl module. Checks what the
// server sees (SNI, ALPN, the client's certificate, resumption, close_notify or truncation) and that every
// rejection on either side is reported as its specific condition.
#include <gtest/gtest.h>

#include <optional>

#include "test/support/temp_dir.hpp"
#include "test/support/tls_fixture.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

// Reads one line (up to '\n') and sends it back.
Task<Result<std::string>> echo_line(TlsStream& tls) {
  auto line = co_await tls_read_line(tls);
  if (!line) co_return line;
  auto sent = co_await tls.send_all(as_bytes(*line));
  if (!sent) co_return fail(sent.error());
  co_return line;
}

Task<std::error_code> shutdown_of(TlsStream& tls) { co_return co_await tls.shutdown(); }

// A Python TLS client: connects, prints the session's ALPN and version, sends "hello", prints the answer, then
// ends as `mode` says: "unwrap" (close_notify both ways) or "truncate" (TCP FIN without close_notify).
constexpr const char* kPythonClient = R"PY(
import socket, ssl, sys
port, ca, mode, alpn, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
ctx = ssl.create_default_context(cafile=ca)
if alpn != "-":
    ctx.set_alpn_protocols(alpn.split(","))
if cert != "-":
    ctx.load_cert_chain(cert, key)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
try:
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    print("ALPN", s.selected_alpn_protocol(), s.version(), flush=True)
    s.sendall(b"hello\n")
    data = b""
    while not data.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            break
        data += d
    print("GOT", data.decode().strip(), flush=True)
    if mode == "unwrap":
        s.unwrap()
        print("CLEAN", flush=True)
    else:
        s.shutdown(socket.SHUT_WR)  # the ssl module sends no close_notify here
        while s.recv(4096):
            pass
        print("CUT", flush=True)
except (ssl.SSLError, OSError) as e:
    print("ERROR", getattr(e, "reason", None), e, flush=True)
    sys.exit(3)
)PY";

class TlsServerInteropTest : public TlsTest {
 protected:
  void SetUp() override {
    TlsTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    auto listener = listen_loopback();
    ASSERT_TRUE(listener) << listener.error().message();
    listener_ = std::move(*listener);
    port_ = listener_.local_address()->port();
  }

  void TearDown() override {
    listener_ = StreamListener();  // closed while its reactor still exists
    TlsTest::TearDown();
  }

  struct Accepted {
    std::optional<TlsStream> tls;
    std::error_code handshake;
  };

  // Accepts one connection and runs our server's handshake with ctx.
  Accepted accept_tls(const TlsContext& ctx) {
    return run(
        [](StreamListener& l, TlsContext c) -> Task<Accepted> {
          Accepted out;
          auto conn = co_await l.accept();
          if (!conn) {
            out.handshake = conn.error();
            co_return out;
          }
          auto tls = TlsStream::server(std::move(*conn), c);
          if (!tls) {
            out.handshake = tls.error();
            co_return out;
          }
          out.handshake = co_await tls->handshake(5s);
          out.tls.emplace(std::move(*tls));
          co_return out;
        }(listener_, ctx),
        10s);
  }

  Result<ChildProcess> s_client(std::vector<std::string> args) {
    args.insert(args.end(), {"-CAfile", pki().ca_cert, "-verify_return_error"});
    return start_openssl_client(port_, args);
  }

  Result<ChildProcess> python_client(const std::string& mode, const std::string& alpn = "-",
                                     const std::string& cert = "-", const std::string& key = "-") {
    return start_python(kPythonClient, {std::to_string(port_), pki().ca_cert, mode, alpn, cert, key});
  }

  // GTEST_SKIP only leaves this helper: callers follow it with `if (IsSkipped()) return;`.
  void skip_without_python() {
    if (!python3_has_ssl()) GTEST_SKIP() << "python3 with the ssl module is not installed";
  }

  StreamListener listener_;
  std::uint16_t port_ = 0;
};

TEST_P(TlsServerInteropTest, OpensslClientTalksToOurServer) {
  auto client = s_client({"-quiet", "-servername", "localhost"});
  ASSERT_TRUE(client);
  client->write("ping\n");
  auto accepted = accept_tls(server_context());
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
  TlsStream& tls = *accepted.tls;
  EXPECT_EQ(tls.server_name(), "localhost");
  EXPECT_EQ(tls.protocol(), "TLSv1.3");
  auto line = run(echo_line(tls));
  ASSERT_TRUE(line) << line.error().message();
  EXPECT_EQ(*line, "ping\n");
  EXPECT_FALSE(run(shutdown_of(tls)));
  std::string out = read_all(*client);
  EXPECT_NE(out.find("ping"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, OpensslClientsCloseNotifyEndsOurStreamCleanly) {
  auto client = s_client({"-quiet", "-no_ign_eof"});
  ASSERT_TRUE(client);
  client->write("bye\n");
  client->close_stdin();  // s_client then sends close_notify and exits
  auto accepted = accept_tls(server_context());
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
  auto all = run(tls_read_to_end(*accepted.tls));
  ASSERT_TRUE(all) << all.error().message();  // not TlsErrc::truncated
  EXPECT_EQ(*all, "bye\n");
}

TEST_P(TlsServerInteropTest, PythonClientNegotiatesAlpnAndClosesCleanly) {
  skip_without_python();
  if (IsSkipped()) return;
  auto py = python_client("unwrap", "h2,http/1.1");
  ASSERT_TRUE(py);
  auto accepted = accept_tls(server_context({.alpn = {"http/1.1"}}));
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
  TlsStream& tls = *accepted.tls;
  EXPECT_EQ(tls.alpn(), "http/1.1");
  ASSERT_TRUE(run(echo_line(tls)));
  auto rest = run(tls_read_to_end(tls));  // Python's close_notify: a clean end
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_FALSE(run(shutdown_of(tls)));  // Python's unwrap() waits for ours
  int status = -1;
  std::string out = read_all(*py, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("ALPN http/1.1 TLSv1.3"), std::string::npos) << out;
  EXPECT_NE(out.find("GOT hello"), std::string::npos) << out;
  EXPECT_NE(out.find("CLEAN"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, PythonClientEndingWithoutCloseNotifyIsATruncation) {
  skip_without_python();
  if (IsSkipped()) return;
  auto py = python_client("truncate");
  ASSERT_TRUE(py);
  auto accepted = accept_tls(server_context());
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
  TlsStream& tls = *accepted.tls;
  ASSERT_TRUE(run(echo_line(tls)));
  auto rest = run(tls_read_to_end(tls));
  ASSERT_FALSE(rest);
  EXPECT_EQ(rest.error(), TlsErrc::truncated) << rest.error().message();
  tls.close();
  reactor().run_once(Duration(0));  // io_uring submits the release of its registered file in a loop turn
  int status = -1;
  std::string out = read_all(*py, &status);
  EXPECT_NE(out.find("CUT"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, PythonClientRejectsOurCertificateFromAnUnknownCa) {
  skip_without_python();
  if (IsSkipped()) return;
  auto py = python_client("unwrap");
  ASSERT_TRUE(py);
  auto accepted =
      accept_tls(server_context({.certificate_chain_file = pki().rogue_cert, .private_key_file = pki().rogue_key}));
  EXPECT_EQ(accepted.handshake, TlsErrc::unknown_ca) << accepted.handshake.message();
  int status = -1;
  std::string out = read_all(*py, &status);
  EXPECT_EQ(status, 3) << out;
  EXPECT_NE(out.find("CERTIFICATE_VERIFY_FAILED"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, PythonClientWithoutAnAlpnInCommonIsRefused) {
  skip_without_python();
  if (IsSkipped()) return;
  auto py = python_client("unwrap", "h2");
  ASSERT_TRUE(py);
  auto accepted = accept_tls(server_context({.alpn = {"http/1.1"}}));
  EXPECT_EQ(accepted.handshake, TlsErrc::no_application_protocol) << accepted.handshake.message();
  int status = -1;
  std::string out = read_all(*py, &status);
  EXPECT_EQ(status, 3) << out;
  EXPECT_NE(out.find("no application protocol"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, OpensslClientRejectsOurExpiredCertificate) {
  auto client = s_client({"-quiet"});
  ASSERT_TRUE(client);
  auto accepted =
      accept_tls(server_context({.certificate_chain_file = pki().expired_cert, .private_key_file = pki().expired_key}));
  EXPECT_EQ(accepted.handshake, TlsErrc::certificate_expired) << accepted.handshake.message();
  std::string out = read_all(*client);
  EXPECT_NE(out.find("certificate has expired"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, MutualTlsWithOpensslClient) {
  TlsContext ctx = server_context({.ca_file = pki().ca_cert, .verify = TlsVerify::require_peer});
  auto client = s_client({"-quiet", "-cert", pki().client_cert, "-key", pki().client_key});
  ASSERT_TRUE(client);
  client->write("who\n");
  auto accepted = accept_tls(ctx);
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
  TlsStream& tls = *accepted.tls;
  auto peer = tls.peer_certificate();
  ASSERT_TRUE(peer) << peer.error().message();
  EXPECT_EQ(peer->subject_field("CN"), "rfarm test client");
  EXPECT_FALSE(tls.verify_result());
  ASSERT_TRUE(run(echo_line(tls)));
  EXPECT_FALSE(run(shutdown_of(tls)));
  std::string out = read_all(*client);
  EXPECT_NE(out.find("who"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, MutualTlsRejectsAClientWithoutCertificate) {
  TlsContext ctx = server_context({.ca_file = pki().ca_cert, .verify = TlsVerify::require_peer});
  auto client = s_client({"-quiet"});
  ASSERT_TRUE(client);
  client->write("anyone?\n");
  auto accepted = accept_tls(ctx);
  EXPECT_EQ(accepted.handshake, TlsErrc::no_peer_certificate) << accepted.handshake.message();
  std::string out = read_all(*client);
  EXPECT_NE(out.find("certificate required"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, PythonClientWithCertificatePassesMutualTls) {
  skip_without_python();
  if (IsSkipped()) return;
  TlsContext ctx = server_context({.ca_file = pki().ca_cert, .verify = TlsVerify::require_peer});
  auto py = python_client("unwrap", "-", pki().client_cert, pki().client_key);
  ASSERT_TRUE(py);
  auto accepted = accept_tls(ctx);
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
  EXPECT_EQ(accepted.tls->peer_certificate()->subject_field("CN"), "rfarm test client");
  ASSERT_TRUE(run(echo_line(*accepted.tls)));
  ASSERT_TRUE(run(tls_read_to_end(*accepted.tls)));
  EXPECT_FALSE(run(shutdown_of(*accepted.tls)));
  int status = -1;
  std::string out = read_all(*py, &status);
  EXPECT_EQ(status, 0) << out;
}

TEST_P(TlsServerInteropTest, RevokedClientCertificateIsRejectedWithTheCrl) {
  TlsContext ctx = server_context({.ca_file = pki().ca_cert, .verify = TlsVerify::require_peer, .crl_file = pki().crl});
  auto client = s_client({"-quiet", "-cert", pki().revoked_cert, "-key", pki().revoked_key});
  ASSERT_TRUE(client);
  client->write("revoked?\n");
  auto accepted = accept_tls(ctx);
  EXPECT_EQ(accepted.handshake, TlsErrc::certificate_revoked) << accepted.handshake.message();
  EXPECT_EQ(tls_verify_error_of(accepted.handshake), 23);  // X509_V_ERR_CERT_REVOKED
  std::string out = read_all(*client);
  EXPECT_NE(out.find("certificate revoked"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, SniCallbackSeesTheNameAndPicksTheCertificate) {
  TlsContext other =
      server_context({.certificate_chain_file = pki().wrong_host_cert, .private_key_file = pki().wrong_host_key});
  std::string seen;
  TlsContext ctx = server_context({.sni_selector = [&](std::string_view name) -> const TlsContext* {
    seen = name;
    return name == "wrong.example" ? &other : nullptr;
  }});
  auto client = s_client({"-quiet", "-servername", "wrong.example", "-verify_hostname", "wrong.example"});
  ASSERT_TRUE(client);
  client->write("sni\n");
  auto accepted = accept_tls(ctx);
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();  // the client verified wrong.example
  EXPECT_EQ(seen, "wrong.example");
  EXPECT_EQ(accepted.tls->server_name(), "wrong.example");
  ASSERT_TRUE(run(echo_line(*accepted.tls)));
  EXPECT_FALSE(run(shutdown_of(*accepted.tls)));
  std::string out = read_all(*client);
  EXPECT_NE(out.find("sni"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, RenegotiationAttemptIsRefused) {
  auto client = s_client({"-tls1_2"});  // not -quiet: "R" on a line of its own asks s_client to renegotiate
  ASSERT_TRUE(client);
  client->write("before\n");
  auto accepted = accept_tls(server_context());
  ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
  TlsStream& tls = *accepted.tls;
  ASSERT_TRUE(run(echo_line(tls)));
  client->write("R\n");
  auto rest = run(tls_read_to_end(tls));
  ASSERT_FALSE(rest);
  EXPECT_EQ(rest.error(), TlsErrc::renegotiation_refused) << rest.error().message();
  std::string out = read_all(*client);
  EXPECT_NE(out.find("RENEGOTIATING"), std::string::npos) << out;
  EXPECT_NE(out.find("no renegotiation"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, Tls11ClientIsRefused) {
  auto client = s_client({"-quiet", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"});
  ASSERT_TRUE(client);
  auto accepted = accept_tls(server_context());
  EXPECT_EQ(accepted.handshake, TlsErrc::protocol_version) << accepted.handshake.message();
  std::string out = read_all(*client);
  EXPECT_NE(out.find("protocol version"), std::string::npos) << out;
}

TEST_P(TlsServerInteropTest, OpensslClientResumesItsSession) {
  TempDir dir;
  std::string session = dir.file("session.pem");
  TlsContext ctx = server_context();
  for (int round = 0; round < 2; ++round) {
    auto client = s_client({"-quiet", round == 0 ? "-sess_out" : "-sess_in", session});
    ASSERT_TRUE(client);
    client->write("again\n");
    auto accepted = accept_tls(ctx);
    ASSERT_FALSE(accepted.handshake) << accepted.handshake.message();
    EXPECT_EQ(accepted.tls->session_reused(), round == 1) << "round " << round;
    ASSERT_TRUE(run(echo_line(*accepted.tls)));  // s_client reads the tickets with the answer
    EXPECT_FALSE(run(shutdown_of(*accepted.tls)));
    std::string out = read_all(*client);
    EXPECT_NE(out.find("again"), std::string::npos) << out;
  }
}

RFARM_INSTANTIATE_BACKEND_TESTS(TlsServerInteropTest);

}  // namespace
}  // namespace rfarm::test

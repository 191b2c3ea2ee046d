// The rfarm TLS client against real servers: `openssl s_server` and Python's ssl module. Every rejection the
// client must make (expired, not yet valid, unknown CA, wrong host, revoked, old protocol) is asserted as its
// specific condition; mutual TLS, ALPN, SNI, resumption and the key log are checked against what the server
// did.
#include <gtest/gtest.h>
#include <openssl/x509_vfy.h>

#include <fstream>
#include <set>
#include <sstream>

#include "test/support/temp_dir.hpp"
#include "test/support/tls_fixture.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

// One line out, one line back.
Task<Result<std::string>> exchange_line(TlsStream& tls, std::string line) {
  auto sent = co_await tls.send_all(as_bytes(line));
  if (!sent) co_return fail(sent.error());
  co_return co_await tls_read_line(tls);
}

class TlsClientInteropTest : public TlsTest {
 protected:
  // `openssl s_server -rev` (answers each line reversed) with our valid certificate unless args name another.
  OpensslServer s_server(std::vector<std::string> args, bool default_cert = true) {
    if (default_cert) args.insert(args.end(), {"-cert", pki().server_cert, "-key", pki().server_key});
    args.push_back("-rev");
    auto server = OpensslServer::start(args);
    if (!server) throw std::runtime_error("openssl s_server did not start");
    return std::move(*server);
  }

  Result<TlsStream> connect(std::uint16_t port, const TlsContext& ctx,
                            TlsClientOptions options = {.server_name = "localhost"}) {
    return run(TlsStream::connect(reactor(), Address::loopback_v4(port), ctx, options, 5s));
  }

  // The handshake's outcome against a fresh s_server started with args.
  std::error_code handshake_against(std::vector<std::string> args, const TlsContext& ctx,
                                    TlsClientOptions options = {.server_name = "localhost"}) {
    OpensslServer server = s_server(std::move(args), false);
    auto tls = connect(server.port, ctx, options);
    return tls ? std::error_code{} : tls.error();
  }
};

TEST_P(TlsClientInteropTest, TalksToOpensslServer) {
  OpensslServer server = s_server({});
  auto tls = connect(server.port, client_context());
  ASSERT_TRUE(tls) << tls.error().message();
  EXPECT_EQ(tls->protocol(), "TLSv1.3");
  auto reply = run(exchange_line(*tls, "hello\n"));
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, "olleh\n");
  auto cert = tls->peer_certificate();
  ASSERT_TRUE(cert);
  EXPECT_EQ(cert->subject_field("CN"), "localhost");
  EXPECT_FALSE(tls->verify_result());
}

TEST_P(TlsClientInteropTest, RejectsAnExpiredCertificate) {
  auto ec = handshake_against({"-cert", pki().expired_cert, "-key", pki().expired_key}, client_context());
  EXPECT_EQ(ec, TlsErrc::certificate_expired) << ec.message();
  EXPECT_EQ(tls_verify_error_of(ec), X509_V_ERR_CERT_HAS_EXPIRED);
  EXPECT_NE(ec.message().find("certificate has expired"), std::string::npos) << ec.message();
}

TEST_P(TlsClientInteropTest, RejectsACertificateNotYetValid) {
  auto ec = handshake_against({"-cert", pki().not_yet_valid_cert, "-key", pki().not_yet_valid_key}, client_context());
  EXPECT_EQ(ec, TlsErrc::certificate_not_yet_valid) << ec.message();
}

TEST_P(TlsClientInteropTest, RejectsACertificateFromAnUnknownCa) {
  auto ec = handshake_against({"-cert", pki().rogue_cert, "-key", pki().rogue_key}, client_context());
  EXPECT_EQ(ec, TlsErrc::unknown_ca) << ec.message();
  EXPECT_NE(ec.message().find("unable to get local issuer certificate"), std::string::npos) << ec.message();
}

TEST_P(TlsClientInteropTest, RejectsACertificateForAnotherHost) {
  auto ec = handshake_against({"-cert", pki().wrong_host_cert, "-key", pki().wrong_host_key}, client_context());
  EXPECT_EQ(ec, TlsErrc::hostname_mismatch) << ec.message();
  EXPECT_EQ(tls_verify_error_of(ec), X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_P(TlsClientInteropTest, VerifyNoneAcceptsAnyCertificateButStillReportsTheResult) {
  OpensslServer server = s_server({"-cert", pki().rogue_cert, "-key", pki().rogue_key}, false);
  auto tls = connect(server.port, client_context({.verify = TlsVerify::none}));
  ASSERT_TRUE(tls) << tls.error().message();
  EXPECT_EQ(tls->verify_result(), TlsErrc::unknown_ca);
}

TEST_P(TlsClientInteropTest, RejectsARevokedCertificateWhenGivenTheCrl) {
  std::vector<std::string> revoked{"-cert", pki().revoked_cert, "-key", pki().revoked_key};
  auto ec = handshake_against(revoked, client_context({.crl_file = pki().crl}));
  EXPECT_EQ(ec, TlsErrc::certificate_revoked) << ec.message();
  EXPECT_EQ(tls_verify_error_of(ec), X509_V_ERR_CERT_REVOKED);
  // Without the CRL the same certificate passes: the CRL is what rejects it.
  EXPECT_FALSE(handshake_against(revoked, client_context()));
  // And the CRL does not reject a certificate it does not list.
  EXPECT_FALSE(handshake_against({"-cert", pki().server_cert, "-key", pki().server_key},
                                 client_context({.crl_file = pki().crl})));
}

TEST_P(TlsClientInteropTest, CrlCheckingFailsWithoutACrlFromTheIssuer) {
  TempDir dir;
  std::string both = dir.file("two-cas.pem");
  std::ofstream(both) << read_file(pki().ca_cert) << read_file(pki().rogue_ca_cert);
  auto ec = handshake_against({"-cert", pki().rogue_cert, "-key", pki().rogue_key},
                              client_context({.ca_file = both, .crl_file = pki().crl}));
  EXPECT_EQ(ec, TlsErrc::crl_unusable) << ec.message();
  EXPECT_EQ(tls_verify_error_of(ec), X509_V_ERR_UNABLE_TO_GET_CRL);
}

TEST_P(TlsClientInteropTest, RefusesProtocolsOlderThanTls12ByDefault) {
  auto ec = handshake_against(
      {"-cert", pki().server_cert, "-key", pki().server_key, "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"},
      client_context());
  EXPECT_EQ(ec, TlsErrc::protocol_version) << ec.message();
}

TEST_P(TlsClientInteropTest, MinimumVersionIsEnforced) {
  std::vector<std::string> tls12{"-cert", pki().server_cert, "-key", pki().server_key, "-tls1_2"};
  auto ec = handshake_against(tls12, client_context({.min_version = TlsVersion::tls1_3}));
  EXPECT_EQ(ec, TlsErrc::protocol_version) << ec.message();
  OpensslServer server = s_server({"-tls1_2"});
  auto tls = connect(server.port, client_context());
  ASSERT_TRUE(tls) << tls.error().message();
  EXPECT_EQ(tls->protocol(), "TLSv1.2");
}

TEST_P(TlsClientInteropTest, CipherChoicesAreApplied) {
  OpensslServer server = s_server({});
  auto tls13 = connect(server.port, client_context({.ciphersuites = "TLS_CHACHA20_POLY1305_SHA256"}));
  ASSERT_TRUE(tls13) << tls13.error().message();
  EXPECT_EQ(tls13->cipher(), "TLS_CHACHA20_POLY1305_SHA256");
  // s_server serves one connection at a time: end this one before the next.
  EXPECT_FALSE(run([](TlsStream& t) -> Task<std::error_code> { co_return co_await t.shutdown(); }(*tls13)));
  auto tls12 = connect(
      server.port, client_context({.max_version = TlsVersion::tls1_2, .cipher_list = "ECDHE-ECDSA-AES128-GCM-SHA256"}));
  ASSERT_TRUE(tls12) << tls12.error().message();
  EXPECT_EQ(tls12->cipher(), "ECDHE-ECDSA-AES128-GCM-SHA256");
}

TEST_P(TlsClientInteropTest, AlpnIsNegotiatedWithOpensslServer) {
  OpensslServer server = s_server({"-alpn", "h2,http/1.1"});
  auto tls = connect(server.port, client_context({.alpn = {"http/1.1"}}));
  ASSERT_TRUE(tls) << tls.error().message();
  EXPECT_EQ(tls->alpn(), "http/1.1");
}

TEST_P(TlsClientInteropTest, MutualTlsWithOpensslServer) {
  OpensslServer server = s_server({"-Verify", "1", "-CAfile", pki().ca_cert});
  auto tls = connect(
      server.port, client_context({.certificate_chain_file = pki().client_cert, .private_key_file = pki().client_key}));
  ASSERT_TRUE(tls) << tls.error().message();
  auto reply = run(exchange_line(*tls, "mutual\n"));
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, "lautum\n");
}

TEST_P(TlsClientInteropTest, OpensslServerRejectsAClientWithoutCertificate) {
  OpensslServer server = s_server({"-Verify", "1", "-CAfile", pki().ca_cert});
  // TLS 1.3: the client's handshake ends before the server has checked; the refusal arrives as an alert.
  auto tls = connect(server.port, client_context());
  std::error_code ec = tls ? std::error_code{} : tls.error();
  if (tls) {
    auto reply = run(exchange_line(*tls, "anyone?\n"));
    ASSERT_FALSE(reply);
    ec = reply.error();
  }
  EXPECT_EQ(ec, TlsErrc::no_peer_certificate) << ec.message();
}

TEST_P(TlsClientInteropTest, SessionIsResumedWithOpensslServer) {
  OpensslServer server = s_server({});
  TlsContext ctx = client_context();
  TlsSessionCache cache;
  for (int round = 0; round < 2; ++round) {
    auto tls = connect(server.port, ctx, {.server_name = "localhost", .session_cache = &cache});
    ASSERT_TRUE(tls) << tls.error().message();
    EXPECT_EQ(tls->session_reused(), round == 1) << "round " << round;
    ASSERT_TRUE(run(exchange_line(*tls, "x\n")));  // reads the tickets that follow the handshake
    EXPECT_FALSE(run([](TlsStream& t) -> Task<std::error_code> { co_return co_await t.shutdown(); }(*tls)));
  }
  EXPECT_EQ(cache.size(), 1u);
}

TEST_P(TlsClientInteropTest, SniSelectsTheOpensslServersSecondCertificate) {
  OpensslServer server =
      s_server({"-servername", "wrong.example", "-cert2", pki().wrong_host_cert, "-key2", pki().wrong_host_key});
  auto tls = connect(server.port, client_context(), {.server_name = "wrong.example"});
  ASSERT_TRUE(tls) << tls.error().message();  // verified for wrong.example: the server chose by our SNI
  EXPECT_EQ(tls->peer_certificate()->subject_field("CN"), "wrong.example");
}

TEST_P(TlsClientInteropTest, KeyLogMatchesTheServersKeyLog) {
  TempDir dir;
  std::string theirs = dir.file("server-keys.log"), ours = dir.file("client-keys.log");
  OpensslServer server = s_server({"-keylogfile", theirs});
  auto tls = connect(server.port, client_context({.key_log_file = ours}));
  ASSERT_TRUE(tls) << tls.error().message();
  ASSERT_TRUE(run(exchange_line(*tls, "keys\n")));
  auto lines = [](const std::string& text) {
    std::set<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty() && line[0] != '#') out.insert(line);
    return out;
  };
  std::set<std::string> mine = lines(read_file(ours)), server_side = lines(read_file(theirs));
  EXPECT_EQ(mine.size(), 5u);  // TLS 1.3: two handshake, two traffic secrets, the exporter secret
  EXPECT_EQ(mine, server_side);
}

// Python's ssl module as the server: reports the SNI and ALPN it saw, answers one line in upper case, then
// closes with close_notify both ways (unwrap).
constexpr const char* kPythonServer = R"PY(
import socket, ssl, sys
cert, key, alpn = sys.argv[1], sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.set_alpn_protocols(alpn.split(","))
names = []
ctx.sni_callback = lambda sock, name, c: names.append(name)
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen()
ls.settimeout(10)
print(ls.getsockname()[1], flush=True)
c, _ = ls.accept()
c.settimeout(10)
s = ctx.wrap_socket(c, server_side=True)
print("SNI", names[0] if names else "-", "ALPN", s.selected_alpn_protocol(), s.version(), flush=True)
data = b""
while not data.endswith(b"\n"):
    d = s.recv(4096)
    if not d:
        break
    data += d
s.sendall(data.upper())
s.unwrap()
print("CLEAN", flush=True)
)PY";

TEST_P(TlsClientInteropTest, TalksToPythonServer) {
  if (!python3_has_ssl()) GTEST_SKIP() << "python3 with the ssl module is not installed";
  auto py = start_python(kPythonServer, {pki().server_cert, pki().server_key, "h2,http/1.1"});
  ASSERT_TRUE(py);
  auto port = py->read_line(10s);
  ASSERT_TRUE(port);
  auto tls = connect(static_cast<std::uint16_t>(std::stoi(*port)), client_context({.alpn = {"http/1.1"}}));
  ASSERT_TRUE(tls) << tls.error().message();
  EXPECT_EQ(tls->alpn(), "http/1.1");
  auto reply = run(exchange_line(*tls, "shout\n"));
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, "SHOUT\n");
  auto rest = run(tls_read_to_end(*tls));  // Python's close_notify
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_FALSE(run([](TlsStream& t) -> Task<std::error_code> { co_return co_await t.shutdown(); }(*tls)));
  int status = -1;
  std::string out = read_all(*py, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("SNI localhost ALPN http/1.1 TLSv1.3"), std::string::npos) << out;
  EXPECT_NE(out.find("CLEAN"), std::string::npos) << out;
}

RFARM_INSTANTIATE_BACKEND_TESTS(TlsClientInteropTest);

}  // namespace
}  // namespace rfarm::test

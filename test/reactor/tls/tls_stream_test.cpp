// TlsStream against itself (rfarm client <-> rfarm server) over loopback TCP and Unix sockets: both styles,
// bulk transfer, how records are gathered into sends, close_notify and truncation, time-outs, cancellation,
// resumption, the key log, and what the stream reports about the session.
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "test/support/temp_dir.hpp"
#include "test/support/tls_fixture.hpp"

namespace rfarm::test {
namespace {

using TlsStreamTest = TlsTest;

Task<Result<std::string>> send_then_read_reply(TlsStream& tls, std::string message, std::size_t reply_size) {
  auto sent = co_await tls.send_all(as_bytes(message));
  if (!sent) co_return fail(sent.error());
  co_return co_await tls_read_exactly(tls, reply_size);
}

// Echoes until close_notify, then answers with its own close_notify.
Task<std::error_code> tls_echo(TlsStream& tls) {
  std::array<std::byte, 16 * 1024> buffer;
  for (int i = 0; i < 100000; ++i) {
    auto n = co_await tls.recv(buffer);
    if (!n) co_return n.error();
    if (*n == 0) co_return co_await tls.shutdown();
    auto sent = co_await tls.send_all(ConstBytes(buffer.data(), *n));
    if (!sent) co_return sent.error();
  }
  co_return std::make_error_code(std::errc::message_size);
}

TEST_P(TlsStreamTest, HandshakeThenEchoWithCoroutines) {
  auto [client, server] = connected_pair(client_context(), server_context());
  EXPECT_TRUE(client.handshake_done());
  EXPECT_TRUE(server.handshake_done());
  std::error_code server_result;
  bool server_done = false;
  reactor().spawn([](TlsStream& s, std::error_code& out, bool& done) -> Task<void> {
    out = co_await tls_echo(s);
    done = true;
  }(server, server_result, server_done));
  std::string message = pattern(100'000, 1);
  auto reply = run(send_then_read_reply(client, message, message.size()));
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_TRUE(*reply == message);
  EXPECT_FALSE(run([](TlsStream& c) -> Task<std::error_code> { co_return co_await c.shutdown(); }(client)));
  auto rest = run(tls_read_to_end(client));  // the server's close_notify
  ASSERT_TRUE(rest) << rest.error().message();
  EXPECT_TRUE(rest->empty());
  ASSERT_TRUE(run_until([&] { return server_done; }));
  EXPECT_FALSE(server_result) << server_result.message();
}

// Callback style on both sides: the server echoes with async_recv / async_send_all.
struct CallbackTlsEcho {
  TlsStream& tls;
  std::array<std::byte, 4096> buffer{};
  std::error_code error{};
  bool done = false;

  void start() {
    tls.async_handshake(std::chrono::seconds(5), [this](std::error_code ec) {
      if (ec) return finish(ec);
      receive();
    });
  }
  void receive() {
    tls.async_recv(buffer, [this](Result<std::size_t> n) {
      if (!n) return finish(n.error());
      if (*n == 0) return tls.async_shutdown([this](std::error_code ec) { finish(ec); });
      tls.async_send_all(ConstBytes(buffer.data(), *n), [this](Result<std::size_t> sent) {
        if (!sent) return finish(sent.error());
        receive();
      });
    });
  }
  void finish(std::error_code ec) {
    error = ec;
    done = true;
  }
};

TEST_P(TlsStreamTest, EchoWithCallbacks) {
  auto [client, server] = tls_pair(client_context(), server_context());
  CallbackTlsEcho echo{server};
  echo.start();
  std::string message = pattern(50'000, 2);
  std::string reply(message.size(), '\0');
  std::optional<Result<std::size_t>> sent, received;
  client.async_send_all(as_bytes(message), [&](Result<std::size_t> n) { sent = n; });
  client.async_recv_exactly(as_writable_bytes(reply), [&](Result<std::size_t> n) { received = n; });
  ASSERT_TRUE(run_until([&] { return sent && received; }));
  ASSERT_TRUE(*sent) << sent->error().message();
  ASSERT_TRUE(*received) << received->error().message();
  EXPECT_TRUE(reply == message);
  std::optional<std::error_code> shut;
  client.async_shutdown([&](std::error_code ec) { shut = ec; });
  ASSERT_TRUE(run_until([&] { return shut.has_value() && echo.done; }));
  EXPECT_FALSE(*shut) << shut->message();
  EXPECT_FALSE(echo.error) << echo.error.message();
}

TEST_P(TlsStreamTest, AHandlerNeverRunsInsideTheCallThatStartedIt) {
  auto [client, server] = connected_pair(client_context(), server_context());
  bool inside = true;
  bool ran_inside = false;
  std::optional<Result<std::size_t>> sent;
  client.async_send_all(ConstBytes{}, [&](Result<std::size_t> n) {  // completes at once: nothing to send
    ran_inside = inside;
    sent = n;
  });
  inside = false;
  ASSERT_TRUE(run_until([&] { return sent.has_value(); }));
  EXPECT_FALSE(ran_inside);
}

TEST_P(TlsStreamTest, SecondCallbackOperationOfAKindIsRefused) {
  auto [client, server] = connected_pair(client_context(), server_context());
  std::array<std::byte, 16> a{}, b{};
  std::optional<Result<std::size_t>> first, second;
  client.async_recv(a, [&](Result<std::size_t> n) { first = n; });
  client.async_recv(b, [&](Result<std::size_t> n) { second = n; });
  ASSERT_TRUE(run_until([&] { return second.has_value(); }));
  ASSERT_FALSE(*second);
  EXPECT_EQ(second->error(), Errc::operation_in_progress);
  EXPECT_FALSE(first.has_value());  // still waiting for data
  client.close();
  ASSERT_TRUE(run_until([&] { return first.has_value(); }));
  ASSERT_FALSE(*first);
  EXPECT_EQ(first->error(), std::errc::operation_canceled);
}

TEST_P(TlsStreamTest, WorksOverAUnixSocketPair) {
  auto sockets = StreamSocket::pair(reactor());
  ASSERT_TRUE(sockets);
  auto client = TlsStream::client(std::move(sockets->first), client_context(), {.server_name = "localhost"});
  auto server = TlsStream::server(std::move(sockets->second), server_context());
  ASSERT_TRUE(client && server);
  auto r = handshake_both(*client, *server);
  ASSERT_FALSE(r.client) << r.client.message();
  ASSERT_FALSE(r.server) << r.server.message();
  std::string message = "over a Unix-domain socket";
  bool done = false;
  reactor().spawn([](TlsStream& s, bool& d) -> Task<void> {
    co_await tls_echo(s);
    d = true;
  }(*server, done));
  auto reply = run(send_then_read_reply(*client, message, message.size()));
  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, message);
}

TEST_P(TlsStreamTest, FourMebibytesEachWayConcurrentlyArriveIntact) {
  auto [client, server] = connected_pair(client_context(), server_context());
  std::string up = pattern(4 << 20, 3), down = pattern(4 << 20, 4);
  auto side = [](TlsStream& tls, const std::string& out, std::size_t in_size) -> Task<Result<std::string>> {
    std::optional<Result<std::size_t>> sent;
    tls.async_send_all(as_bytes(out), [&](Result<std::size_t> n) { sent = n; });  // full duplex
    auto got = co_await tls_read_exactly(tls, in_size);
    for (int i = 0; i < 1000 && !sent; ++i) co_await tls.reactor().sleep(std::chrono::milliseconds(1));
    if (!sent || !*sent) co_return fail(std::make_error_code(std::errc::io_error));
    co_return got;
  };
  std::optional<Result<std::string>> at_server;
  reactor().spawn([](auto side, TlsStream& s, const std::string& d, std::size_t n,
                     std::optional<Result<std::string>>& out) -> Task<void> {
    out = co_await side(s, d, n);
  }(side, server, down, up.size(), at_server));
  auto at_client = run(side(client, up, down.size()), std::chrono::seconds(30));
  ASSERT_TRUE(run_until([&] { return at_server.has_value(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(at_client) << at_client.error().message();
  ASSERT_TRUE(*at_server) << at_server->error().message();
  EXPECT_TRUE(*at_client == down);
  EXPECT_TRUE(**at_server == up);
}

TEST_P(TlsStreamTest, RecordsWrittenTogetherLeaveInOneSend) {
  auto [client, server] = connected_pair(client_context(), server_context());
  auto before = client.stats();
  std::string data = pattern(64 * 1024, 5);  // four full records, written by one SSL_write
  auto sent = run([](TlsStream& c, const std::string& d) -> Task<Result<std::size_t>> {
    co_return co_await c.send_all(as_bytes(d));
  }(client, data));
  ASSERT_TRUE(sent) << sent.error().message();
  auto after = client.stats();
  EXPECT_EQ(after.ciphertext_sends - before.ciphertext_sends, 1u) << "4 records should leave in one gathered send";
  EXPECT_GT(after.bytes_out - before.bytes_out, data.size());  // plus record overhead
  auto got = run(tls_read_exactly(server, data.size()));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(*got == data);
}

TEST_P(TlsStreamTest, RecvPooledLeasesABufferOnlyWhenDataArrives) {
  auto [client, server] = connected_pair(client_context(), server_context());
  BufferPool& pool = reactor().receive_pool();
  std::optional<Result<PooledBuffer>> got;
  server.async_recv_pooled([&](Result<PooledBuffer> b) { got = std::move(b); });
  run_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(got.has_value());
  std::size_t leased_idle = pool.stats().leased;
  auto sent =
      run([](TlsStream& c) -> Task<Result<std::size_t>> { co_return co_await c.send_all(as_bytes("ping")); }(client));
  ASSERT_TRUE(sent);
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_TRUE(*got) << got->error().message();
  EXPECT_EQ(as_chars((*got)->bytes()), "ping");
  EXPECT_EQ(pool.stats().leased, leased_idle + 1);  // the buffer we hold now, nothing else
  got.reset();
  // End of stream: an empty buffer.
  EXPECT_FALSE(run([](TlsStream& c) -> Task<std::error_code> { co_return co_await c.shutdown(); }(client)));
  auto end = run([](TlsStream& s) -> Task<Result<PooledBuffer>> { co_return co_await s.recv_pooled(); }(server));
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_TRUE(end->empty());
}

TEST_P(TlsStreamTest, CloseNotifyEndsTheStreamCleanly) {
  auto [client, server] = connected_pair(client_context(), server_context());
  EXPECT_FALSE(run([](TlsStream& c) -> Task<std::error_code> {
    co_await c.send_all(as_bytes("last words"));
    co_return co_await c.shutdown();
  }(client)));
  auto all = run(tls_read_to_end(server));
  ASSERT_TRUE(all) << all.error().message();
  EXPECT_EQ(*all, "last words");
  // Receiving again after close_notify keeps returning 0.
  auto again = run(tls_read_to_end(server));
  ASSERT_TRUE(again) << again.error().message();
}

TEST_P(TlsStreamTest, EndWithoutCloseNotifyIsReportedAsTruncation) {
  auto [client, server] = connected_pair(client_context(), server_context());
  auto sent =
      run([](TlsStream& c) -> Task<Result<std::size_t>> { co_return co_await c.send_all(as_bytes("cut")); }(client));
  ASSERT_TRUE(sent);
  ASSERT_FALSE(client.socket().shutdown(ShutdownHow::send));  // TCP FIN without close_notify
  auto all = run(tls_read_to_end(server));
  ASSERT_FALSE(all);
  EXPECT_EQ(all.error(), TlsErrc::truncated) << all.error().message();
  EXPECT_NE(all.error().message().find("unexpected eof"), std::string::npos) << all.error().message();
}

TEST_P(TlsStreamTest, RecvExactlyReportsEndOfStreamWhenCloseNotifyComesFirst) {
  auto [client, server] = connected_pair(client_context(), server_context());
  EXPECT_FALSE(run([](TlsStream& c) -> Task<std::error_code> {
    co_await c.send_all(as_bytes("short"));
    co_return co_await c.shutdown();
  }(client)));
  auto got = run(tls_read_exactly(server, 100));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error(), Errc::end_of_stream);
}

TEST_P(TlsStreamTest, HandshakeTimesOutWhenThePeerNeverAnswers) {
  auto tcp = tcp_pair();
  ASSERT_TRUE(tcp);
  auto client = TlsStream::client(std::move(tcp->first), client_context(), {.server_name = "localhost"});
  ASSERT_TRUE(client);
  // tcp->second never speaks.
  auto ec = run([](TlsStream& c) -> Task<std::error_code> {
    co_return co_await c.handshake(std::chrono::milliseconds(50));
  }(*client));
  EXPECT_EQ(ec, std::errc::timed_out) << ec.message();
  EXPECT_EQ(ec, Errc::timed_out);
  // The stream stays failed.
  auto n =
      run([](TlsStream& c) -> Task<Result<std::size_t>> { co_return co_await c.send_all(as_bytes("x")); }(*client));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), std::errc::timed_out);
}

TEST_P(TlsStreamTest, CloseCancelsAWaitingReceive) {
  auto [client, server] = connected_pair(client_context(), server_context());
  std::optional<Result<std::size_t>> got;
  std::array<std::byte, 64> buffer{};
  reactor().spawn(
      [](TlsStream& s, std::array<std::byte, 64>& b, std::optional<Result<std::size_t>>& out) -> Task<void> {
        out = co_await s.recv(b);
      }(server, buffer, got));
  run_for(std::chrono::milliseconds(10));
  EXPECT_FALSE(got.has_value());
  server.close();
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error(), std::errc::operation_canceled);
}

TEST_P(TlsStreamTest, DestroyingTheStreamCancelsAWaitingCoroutine) {
  auto [client, server] = connected_pair(client_context(), server_context());
  auto doomed = std::make_unique<TlsStream>(std::move(server));
  std::optional<Result<std::size_t>> got;
  std::array<std::byte, 64> buffer{};
  reactor().spawn(
      [](TlsStream& s, std::array<std::byte, 64>& b, std::optional<Result<std::size_t>>& out) -> Task<void> {
        out = co_await s.recv(b);
      }(*doomed, buffer, got));
  run_for(std::chrono::milliseconds(10));
  doomed.reset();
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error(), std::errc::operation_canceled);
}

TEST_P(TlsStreamTest, SessionIsResumedFromTheCache) {
  TlsContext server_ctx = server_context();
  TlsContext client_ctx = client_context();
  TlsSessionCache cache;
  for (int round = 0; round < 2; ++round) {
    auto [client, server] =
        connected_pair(client_ctx, server_ctx, {.server_name = "localhost", .session_cache = &cache});
    EXPECT_EQ(client.session_reused(), round == 1) << "round " << round;
    EXPECT_EQ(server.session_reused(), round == 1) << "round " << round;
    // TLS 1.3 tickets arrive after the handshake: a round trip lets the client read them.
    reactor().spawn([](TlsStream& s) -> Task<void> { co_await tls_echo(s); }(server));
    auto reply = run(send_then_read_reply(client, "hi", 2));
    ASSERT_TRUE(reply) << reply.error().message();
    EXPECT_GE(cache.size(), 1u);
    EXPECT_FALSE(run([](TlsStream& c) -> Task<std::error_code> { co_return co_await c.shutdown(); }(client)));
    ASSERT_TRUE(run(tls_read_to_end(client)));
  }
}

TEST_P(TlsStreamTest, Tls12SessionIsResumedToo) {
  TlsContext server_ctx = server_context({.max_version = TlsVersion::tls1_2});
  TlsContext client_ctx = client_context();
  TlsSessionCache cache;
  for (int round = 0; round < 2; ++round) {
    auto [client, server] =
        connected_pair(client_ctx, server_ctx, {.server_name = "localhost", .session_cache = &cache});
    EXPECT_EQ(client.protocol(), "TLSv1.2");
    EXPECT_EQ(client.session_reused(), round == 1) << "round " << round;
    // OpenSSL forgets a session whose connection ends without close_notify (SSL_free(3)).
    EXPECT_FALSE(run([](TlsStream& c) -> Task<std::error_code> { co_return co_await c.shutdown(); }(client)));
  }
}

TEST_P(TlsStreamTest, ReportsSessionAndPeerCertificate) {
  auto [client, server] =
      connected_pair(client_context({.alpn = {"rfarm/1", "h2"}}), server_context({.alpn = {"h2", "rfarm/1"}}));
  EXPECT_EQ(client.protocol(), "TLSv1.3");
  EXPECT_EQ(server.protocol(), "TLSv1.3");
  EXPECT_FALSE(client.cipher().empty());
  EXPECT_EQ(client.cipher(), server.cipher());
  EXPECT_EQ(client.alpn(), "h2");  // the server's preference wins
  EXPECT_EQ(server.alpn(), "h2");
  EXPECT_EQ(server.server_name(), "localhost");
  EXPECT_FALSE(client.verify_result());

  auto cert = client.peer_certificate();
  ASSERT_TRUE(cert) << cert.error().message();
  auto expected = TlsCertificateInfo::from_pem_file(pki().server_cert);
  ASSERT_TRUE(expected) << expected.error().message();
  EXPECT_EQ(cert->sha256, expected->sha256);
  EXPECT_EQ(cert->subject_field("CN"), "localhost");
  EXPECT_EQ(cert->subject_field("O"), "rfarm test");
  EXPECT_EQ(cert->issuer_field("CN"), "rfarm test CA");
  EXPECT_EQ(cert->subject_text, "CN=localhost,O=rfarm test");
  EXPECT_EQ(cert->serial_hex, expected->serial_hex);
  EXPECT_FALSE(cert->serial_hex.empty());
  auto now = std::chrono::system_clock::now();
  EXPECT_LT(cert->not_before, now);
  EXPECT_GT(cert->not_after, now);
  EXPECT_EQ(cert->dns_names, std::vector<std::string>{"localhost"});
  EXPECT_EQ(cert->ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(cert->sha256_hex().size(), 32u * 3 - 1);

  auto none = server.peer_certificate();  // the client sent none
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), TlsErrc::no_peer_certificate);
}

TEST_P(TlsStreamTest, FingerprintMatchesTheOpensslCommand) {
  auto info = TlsCertificateInfo::from_pem_file(pki().server_cert);
  ASSERT_TRUE(info) << info.error().message();
  auto child = spawn_merged({"openssl", "x509", "-in", pki().server_cert, "-noout", "-fingerprint", "-sha256"});
  ASSERT_TRUE(child);
  int status = 0;
  std::string out = read_all(*child, &status);
  ASSERT_EQ(status, 0) << out;
  // "sha256 Fingerprint=AB:CD:..."
  EXPECT_NE(out.find("=" + info->sha256_hex()), std::string::npos) << out << " vs " << info->sha256_hex();
}

TEST_P(TlsStreamTest, KeyLogFileReceivesTheSessionSecrets) {
  TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("keys.log");
  auto [client, server] = connected_pair(client_context({.key_log_file = path}), server_context());
  unsigned char random[SSL3_RANDOM_SIZE];
  ASSERT_EQ(SSL_get_client_random(client.native_handle(), random, sizeof random), sizeof random);
  std::string hex;
  char two[3];
  for (unsigned char c : random) {
    std::snprintf(two, sizeof two, "%02x", c);
    hex += two;
  }
  std::string log = read_file(path);
  // NSS key log format, TLS 1.3 labels, keyed by the client random.
  EXPECT_NE(log.find("CLIENT_HANDSHAKE_TRAFFIC_SECRET " + hex), std::string::npos) << log;
  EXPECT_NE(log.find("SERVER_TRAFFIC_SECRET_0 " + hex), std::string::npos) << log;
  EXPECT_NE(log.find("CLIENT_TRAFFIC_SECRET_0 " + hex), std::string::npos) << log;
}

TEST_P(TlsStreamTest, FailureIsStickyAndSaysWhy) {
  // A client that trusts only the rogue CA rejects our server.
  auto [client, server] = tls_pair(client_context({.ca_file = pki().rogue_ca_cert}), server_context());
  auto r = handshake_both(client, server);
  EXPECT_EQ(r.client, TlsErrc::unknown_ca) << r.client.message();
  EXPECT_EQ(r.server, TlsErrc::unknown_ca) << r.server.message();  // the client's alert
  EXPECT_EQ(tls_verify_error_of(r.client), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
  EXPECT_NE(r.server.message().find("alert unknown ca"), std::string::npos) << r.server.message();
  std::array<std::byte, 8> buffer{};
  auto n = run([](TlsStream& c, std::array<std::byte, 8>& b) -> Task<Result<std::size_t>> {
    co_return co_await c.recv(b);
  }(client, buffer));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), r.client);
}

TEST_P(TlsStreamTest, HostnameAndIpAreCheckedAgainstTheCertificate) {
  {
    auto [client, server] = tls_pair(client_context(), server_context(), {.server_name = "db.example"});
    auto r = handshake_both(client, server);
    EXPECT_EQ(r.client, TlsErrc::hostname_mismatch) << r.client.message();
  }
  {
    auto [client, server] = tls_pair(client_context(), server_context(), {.server_name = "127.0.0.1"});
    auto r = handshake_both(client, server);
    EXPECT_FALSE(r.client) << r.client.message();
    EXPECT_EQ(server.server_name(), "");  // no SNI for an address literal
  }
  {
    auto [client, server] = tls_pair(client_context(), server_context(), {.server_name = "127.0.0.2"});
    auto r = handshake_both(client, server);
    EXPECT_EQ(r.client, TlsErrc::hostname_mismatch) << r.client.message();
    EXPECT_EQ(tls_verify_error_of(r.client), X509_V_ERR_IP_ADDRESS_MISMATCH);
  }
}

TEST_P(TlsStreamTest, ServerPicksTheCertificateForTheNameAskedFor) {
  TlsContext other =
      server_context({.certificate_chain_file = pki().wrong_host_cert, .private_key_file = pki().wrong_host_key});
  std::vector<std::string> names_seen;
  TlsContext server_ctx = server_context({.sni_selector = [&](std::string_view name) -> const TlsContext* {
    names_seen.emplace_back(name);
    return name == "wrong.example" ? &other : nullptr;
  }});
  {
    auto [client, server] = connected_pair(client_context(), server_ctx, {.server_name = "wrong.example"});
    EXPECT_EQ(server.server_name(), "wrong.example");
    auto cert = client.peer_certificate();
    ASSERT_TRUE(cert);
    EXPECT_EQ(cert->subject_field("CN"), "wrong.example");
  }
  {
    auto [client, server] = connected_pair(client_context(), server_ctx, {.server_name = "localhost"});
    EXPECT_EQ(client.peer_certificate()->subject_field("CN"), "localhost");
  }
  EXPECT_EQ(names_seen, (std::vector<std::string>{"wrong.example", "localhost"}));
}

RFARM_INSTANTIATE_BACKEND_TESTS(TlsStreamTest);

}  // namespace
}  // namespace rfarm::test

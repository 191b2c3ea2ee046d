// TlsTest: BackendTest (one reactor per backend) plus what every TLS suite needs: the test PKI (skipping when
// the openssl command is missing), contexts made from it, and connected TLS pairs over loopback TCP.
#pragma once

#include <array>
#include <string>
#include <utility>

#include "test/support/backend_fixture.hpp"
#include "reactor/tls/tls_stream.hpp"
#include "test/support/byte_pattern.hpp"
#include "test/support/tls_peers.hpp"
#include "test/support/tls_pki.hpp"

namespace rfarm::test {

// Plaintext up to and including the first '\n' (or up to the end of the stream, if that comes first).
inline Task<Result<std::string>> tls_read_line(TlsStream& tls) {
  std::string line;
  std::array<std::byte, 1024> buffer;
  for (int i = 0; i < 1000 && (line.empty() || line.back() != '\n'); ++i) {
    auto n = co_await tls.recv(buffer);
    if (!n) co_return fail(n.error());
    if (*n == 0) break;
    line.append(as_chars(ConstBytes(buffer.data(), *n)));
  }
  co_return line;
}

// Plaintext until close_notify (or the error that ended the stream).
inline Task<Result<std::string>> tls_read_to_end(TlsStream& tls) {
  std::string all;
  std::array<std::byte, 16 * 1024> buffer;
  for (int i = 0; i < 100000; ++i) {
    auto n = co_await tls.recv(buffer);
    if (!n) co_return fail(n.error());
    if (*n == 0) co_return all;
    all.append(as_chars(ConstBytes(buffer.data(), *n)));
  }
  co_return fail(std::make_error_code(std::errc::message_size));
}

// Exactly n bytes of plaintext as a string.
inline Task<Result<std::string>> tls_read_exactly(TlsStream& tls, std::size_t n) {
  std::string s(n, '\0');
  auto got = co_await tls.recv_exactly(as_writable_bytes(s));
  if (!got) co_return fail(got.error());
  co_return s;
}

class TlsTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (!pki().ok()) GTEST_SKIP() << pki().error;
  }

  static const TlsPki& pki() { return tls_pki(); }

  // A server context for the valid localhost certificate, options on top.
  static TlsContext server_context(TlsContextOptions options = {}) {
    if (options.certificate_chain_file.empty()) {
      options.certificate_chain_file = pki().server_cert;
      options.private_key_file = pki().server_key;
    }
    auto ctx = TlsContext::server(options);
    EXPECT_TRUE(ctx) << "server context: " << ctx.error().message();
    return ctx ? *ctx : TlsContext::server(options).value();
  }

  // A client context trusting the test CA, options on top.
  static TlsContext client_context(TlsContextOptions options = {}) {
    if (options.ca_file.empty()) options.ca_file = pki().ca_cert;
    auto ctx = TlsContext::client(options);
    EXPECT_TRUE(ctx) << "client context: " << ctx.error().message();
    return ctx ? *ctx : TlsContext::client(options).value();
  }

  // TLS streams over a fresh loopback TCP connection: {client, server}, no handshake yet.
  std::pair<TlsStream, TlsStream> tls_pair(const TlsContext& client_ctx, const TlsContext& server_ctx,
                                           TlsClientOptions options = {.server_name = "localhost"}) {
    auto tcp = tcp_pair();
    EXPECT_TRUE(tcp) << tcp.error().message();
    if (!tcp) throw std::runtime_error("no TCP pair");
    auto client = TlsStream::client(std::move(tcp->first), client_ctx, options);
    auto server = TlsStream::server(std::move(tcp->second), server_ctx);
    EXPECT_TRUE(client && server);
    if (!client || !server) throw std::runtime_error("no TLS streams");
    return {std::move(*client), std::move(*server)};
  }

  struct HandshakeResults {
    std::error_code client;
    std::error_code server;
  };

  // Runs both handshakes at once (the server's in callback style, the client's as a coroutine).
  HandshakeResults handshake_both(TlsStream& client, TlsStream& server, Duration timeout = std::chrono::seconds(5)) {
    HandshakeResults r;
    bool server_done = false;
    server.async_handshake(timeout, [&](std::error_code ec) {
      r.server = ec;
      server_done = true;
    });
    r.client = run(
        [](TlsStream& c, Duration t) -> Task<std::error_code> { co_return co_await c.handshake(t); }(client, timeout));
    EXPECT_TRUE(run_until([&] { return server_done; }));
    return r;
  }

  // A handshaken pair; fails the test if either side failed.
  std::pair<TlsStream, TlsStream> connected_pair(const TlsContext& client_ctx, const TlsContext& server_ctx,
                                                 TlsClientOptions options = {.server_name = "localhost"}) {
    auto streams = tls_pair(client_ctx, server_ctx, options);
    auto r = handshake_both(streams.first, streams.second);
    EXPECT_FALSE(r.client) << "client handshake: " << r.client.message();
    EXPECT_FALSE(r.server) << "server handshake: " << r.server.message();
    return streams;
  }
};

}  // namespace rfarm::test

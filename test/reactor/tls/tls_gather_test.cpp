// Gathered sends over TLS (TlsStream::send_all of iovecs, its callback form, SendQueue over a TlsStream) and
// FrameReader over TLS, on every backend: many small buffers arrive intact and in order, in far fewer
// records and sendmsg calls than buffers (counted by TlsStream::stats), to our own TlsStream and to a Python
// ssl peer.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reactor/stream/frame_reader.hpp"
#include "reactor/stream/send_queue.hpp"
#include "reactor/tls/tls_stream.hpp"
#include "test/support/byte_pattern.hpp"
#include "test/support/child_process.hpp"
#include "test/support/tls_fixture.hpp"

namespace rfarm::test {
namespace {

using TlsGatherTest = TlsTest;

// Buffer i holds `sizes[i]` bytes of one pattern, so a reordered or dropped piece shows.
struct Pieces {
  std::string all;
  std::vector<iovec> iovecs;
  explicit Pieces(const std::vector<std::size_t>& sizes, std::uint32_t seed) {
    std::size_t total = 0;
    for (std::size_t s : sizes) total += s;
    all = pattern(total, seed);
    std::size_t at = 0;
    for (std::size_t s : sizes) {
      iovecs.push_back({all.data() + at, s});
      at += s;
    }
  }
};

std::vector<std::size_t> small_sizes(std::size_t count) {
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < count; ++i) sizes.push_back(1 + (i * 37) % 120);
  return sizes;
}

TEST_P(TlsGatherTest, ManySmallBuffersArriveInOrderInFewRecords) {
  auto [client, server] = connected_pair(client_context(), server_context());
  Pieces pieces(small_sizes(2000), 1);  // about 120 KB in 2000 buffers
  auto before = client.stats();
  auto sent = run([](TlsStream& c, std::span<iovec> v) -> Task<Result<std::size_t>> {
    co_return co_await c.send_all(v);
  }(client, pieces.iovecs));
  ASSERT_TRUE(sent) << sent.error().message();
  EXPECT_EQ(*sent, pieces.all.size());
  auto after = client.stats();
  auto got = run(tls_read_exactly(server, pieces.all.size()));
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_TRUE(*got == pieces.all) << "the bytes arrived changed or out of order";
  std::uint64_t records = after.record_writes - before.record_writes;
  std::uint64_t sends = after.ciphertext_sends - before.ciphertext_sends;
  EXPECT_LE(records, pieces.all.size() / (16 * 1024) + 2) << "small buffers are packed into full records";
  EXPECT_LT(sends, 10u);
  EXPECT_EQ(pieces.iovecs.back().iov_len, 0u) << "the iovecs are advanced in place";
  std::printf("[ info ] %zu buffers, %zu bytes: %llu records, %llu sendmsg (packed)\n", pieces.iovecs.size(),
              pieces.all.size(), static_cast<unsigned long long>(records), static_cast<unsigned long long>(sends));

  // For comparison: one send_all per buffer gives one record (and one sendmsg) per buffer.
  Pieces again(small_sizes(200), 2);
  before = client.stats();
  ASSERT_TRUE(run([](TlsStream& c, std::span<iovec> v) -> Task<bool> {
    for (iovec& piece : v)
      if (!co_await c.send_all(ConstBytes(static_cast<const std::byte*>(piece.iov_base), piece.iov_len))) co_return false;
    co_return true;
  }(client, again.iovecs)));
  after = client.stats();
  std::printf("[ info ] %zu buffers one send_all each: %llu records, %llu sendmsg\n", again.iovecs.size(),
              static_cast<unsigned long long>(after.record_writes - before.record_writes),
              static_cast<unsigned long long>(after.ciphertext_sends - before.ciphertext_sends));
  EXPECT_GE(after.record_writes - before.record_writes, again.iovecs.size());
  EXPECT_EQ(run(tls_read_exactly(server, again.all.size())).value_or(""), again.all);
}

// Large buffers are encrypted where they are, small and empty ones around them packed: every mix arrives.
TEST_P(TlsGatherTest, MixedLargeSmallAndEmptyBuffers) {
  auto [client, server] = connected_pair(client_context(), server_context());
  Pieces pieces({0, 5, 100000, 3, 0, 16384, 16383, 1, 70000, 0, 7}, 3);
  auto sent = run([](TlsStream& c, std::span<iovec> v) -> Task<Result<std::size_t>> {
    co_return co_await c.send_all(v);
  }(client, pieces.iovecs));
  ASSERT_TRUE(sent);
  EXPECT_EQ(*sent, pieces.all.size());
  auto got = run(tls_read_exactly(server, pieces.all.size()));
  ASSERT_TRUE(got);
  EXPECT_TRUE(*got == pieces.all);
}

// Before the handshake: the gathered send runs it, as send_all of one buffer does.
TEST_P(TlsGatherTest, GatheredSendDrivesTheHandshake) {
  auto [client, server] = tls_pair(client_context(), server_context());
  bool server_done = false;
  std::error_code server_result;
  server.async_handshake(5s, [&](std::error_code ec) {
    server_result = ec;
    server_done = true;
  });
  Pieces pieces(small_sizes(50), 4);
  auto sent = run([](TlsStream& c, std::span<iovec> v) -> Task<Result<std::size_t>> {
    co_return co_await c.send_all(v);
  }(client, pieces.iovecs));
  ASSERT_TRUE(sent) << sent.error().message();
  ASSERT_TRUE(run_until([&] { return server_done; }));
  EXPECT_FALSE(server_result);
  EXPECT_EQ(run(tls_read_exactly(server, pieces.all.size())).value_or(""), pieces.all);
}

TEST_P(TlsGatherTest, CallbackFormOfTheGatheredSend) {
  auto [client, server] = connected_pair(client_context(), server_context());
  Pieces pieces(small_sizes(500), 5);
  std::optional<Result<std::size_t>> sent;
  client.async_send_all(pieces.iovecs, [&](Result<std::size_t> n) { sent = n; });
  EXPECT_FALSE(sent) << "never inside the call";
  ASSERT_TRUE(run_until([&] { return sent.has_value(); }));
  ASSERT_TRUE(*sent);
  EXPECT_EQ(**sent, pieces.all.size());
  EXPECT_EQ(run(tls_read_exactly(server, pieces.all.size())).value_or(""), pieces.all);
}

TEST_P(TlsGatherTest, SendQueueOverTlsSendsATurnsFramesInOneSend) {
  auto [client, server] = connected_pair(client_context(), server_context());
  std::string expected;
  auto before = client.stats();
  {
    SendQueue queue(client);
    bool drained = false;
    queue.on_drained([&] { drained = true; });
    for (int i = 0; i < 1000; ++i) {
      std::string piece = std::to_string(i) + ",";
      expected += piece;
      queue.push(std::move(piece));
    }
    ASSERT_TRUE(run_until([&] { return drained; }));
    EXPECT_EQ(queue.sends_started(), 1u);
  }
  auto after = client.stats();
  EXPECT_LE(after.record_writes - before.record_writes, 2u) << "1000 pieces, about 4 KB: one record";
  EXPECT_EQ(after.ciphertext_sends - before.ciphertext_sends, 1u);
  EXPECT_EQ(run(tls_read_exactly(server, expected.size())).value_or(""), expected);
}

TEST_P(TlsGatherTest, FrameReaderOverTls) {
  auto [client, server] = connected_pair(client_context(), server_context());
  std::vector<std::string> sent;
  SendQueue queue(client);
  for (std::uint32_t i = 0; i < 300; ++i) {
    sent.push_back(pattern((i * 911) % 40000, i));  // some frames larger than a record and a pool buffer
    std::byte header[4];
    rfarm::detail::encode_frame_prefix(FramePrefix::u32_le, sent.back().size(), header);
    queue.push(std::string(as_chars(ConstBytes(header, 4))));
    queue.push(sent.back());
  }
  FrameReader<TlsStream> reader(server);
  std::vector<std::string> got;
  auto error = run([](FrameReader<TlsStream>& r, std::vector<std::string>& out, std::size_t want) -> Task<std::error_code> {
    while (out.size() < want) {
      auto n = co_await r.next_batch([&](ConstBytes f) { out.emplace_back(as_chars(f)); });
      if (!n) co_return n.error();
      if (*n == 0) co_return make_error_code(Errc::end_of_stream);
    }
    co_return std::error_code{};
  }(reader, got, sent.size()), 20s);
  EXPECT_FALSE(error) << error.message();
  EXPECT_TRUE(got == sent);
  // close_notify between frames is a clean end.
  ASSERT_FALSE(run([](TlsStream& c) -> Task<std::error_code> { co_return co_await c.shutdown(); }(client)));
  auto end = run([](FrameReader<TlsStream>& r) -> Task<Result<std::optional<ConstBytes>>> { co_return co_await r.next(); }(reader));
  ASSERT_TRUE(end) << end.error().message();
  EXPECT_FALSE(*end);
}

// A Python ssl server reads to close_notify and prints the length and SHA-256 of what it got.
TEST_P(TlsGatherTest, PythonPeerReceivesTheGatheredBytes) {
  if (!program_runs({python3(), "-c", "import ssl, hashlib"})) GTEST_SKIP() << "python3 with ssl is missing";
  const char* script = R"(
import socket, ssl, hashlib, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
print(srv.getsockname()[1], flush=True)
c, _ = srv.accept()
c.settimeout(10)
t = ctx.wrap_socket(c, server_side=True)
data = b""
while True:
    chunk = t.recv(65536)
    if not chunk:
        break
    data += chunk
print(len(data), hashlib.sha256(data).hexdigest(), flush=True)
)";
  auto py = ChildProcess::spawn({python3(), "-c", script, pki().server_cert, pki().server_key});
  ASSERT_TRUE(py);
  auto port = py->read_line(10s);
  ASSERT_TRUE(port);
  auto tls = run(TlsStream::connect(reactor(), Address::loopback_v4(static_cast<std::uint16_t>(std::stoi(*port))),
                                    client_context(), {.server_name = "localhost"}, 5s));
  ASSERT_TRUE(tls) << tls.error().message();
  Pieces pieces(small_sizes(3000), 6);
  auto before = tls->stats();
  auto sent = run([](TlsStream& c, std::span<iovec> v) -> Task<Result<std::size_t>> {
    auto n = co_await c.send_all(v);
    if (auto ec = co_await c.shutdown()) co_return fail(ec);
    co_return n;
  }(*tls, pieces.iovecs));
  ASSERT_TRUE(sent) << sent.error().message();
  auto after = tls->stats();
  EXPECT_LT(after.record_writes - before.record_writes, 30u);
  auto sha = ChildProcess::spawn({python3(), "-c", "import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())"});
  ASSERT_TRUE(sha);
  sha->write(pieces.all);
  sha->close_stdin();
  auto expected_hash = sha->read_line(10s);
  ASSERT_TRUE(expected_hash);
  EXPECT_EQ(py->read_line(10s), std::to_string(pieces.all.size()) + " " + *expected_hash);
  EXPECT_EQ(py->wait(5s), 0);
  EXPECT_EQ(sha->wait(5s), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(TlsGatherTest);

}  // namespace
}  // namespace rfarm::test

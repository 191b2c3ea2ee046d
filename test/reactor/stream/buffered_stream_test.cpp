// BufferedStream over real sockets, on every backend: against Python peers (lines, a bivalent text + binary
// exchange), over loopback TCP (hundreds of megabytes through a bounded number of pool buffers), and the
// callback form. Splitting and limit edge cases are in buffered_stream_memory_test.cpp.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"
#include "reactor/stream/buffered_stream.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

using Buffered = BufferedStream<StreamSocket>;

// A one-connection Python server: prints its port, then runs body(c) on the accepted socket c.
std::string python_server(const std::string& body) {
  return "import socket, sys\n"
         "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
         "print(s.getsockname()[1], flush=True)\n"
         "s.settimeout(20)\n"
         "c, _ = s.accept(); c.settimeout(20)\n" +
         body;
}

class BufferedStreamTest : public BackendTest {
 protected:
  // Starts a Python server and returns it with the port it printed.
  std::optional<std::pair<ChildProcess, std::uint16_t>> start_python(const std::string& body) {
    auto child = ChildProcess::spawn({python3(), "-c", python_server(body)});
    if (!child) return std::nullopt;
    auto port = child->read_line(10s);
    if (!port || port->empty()) return std::nullopt;
    return std::pair{std::move(*child), static_cast<std::uint16_t>(std::stoi(*port))};
  }

  Result<Buffered> connect(std::uint16_t port) {
    auto sock = run(StreamSocket::connect(reactor(), Address::loopback_v4(port), 5s));
    if (!sock) return fail(sock.error());
    return Buffered(std::move(*sock));
  }
};

TEST_P(BufferedStreamTest, ReadsLinesFromPythonWithCrlfOrLf) {
  auto peer = start_python(
      "c.sendall(b'alpha\\r\\nbeta\\ngam\\rma\\r\\n\\r\\nlast')\n"
      "c.shutdown(socket.SHUT_WR); c.recv(1); c.close()\n");
  if (!peer) GTEST_SKIP() << "python3 is not available";
  auto in = connect(peer->second);
  ASSERT_TRUE(in) << in.error().message();
  auto lines = run([](Buffered& in) -> Task<std::vector<std::string>> {
    std::vector<std::string> got;
    for (int i = 0; i < 10; ++i) {
      auto line = co_await in.read_line(100);
      if (!line) {
        got.push_back("error: " + line.error().message());
        break;
      }
      got.emplace_back(*line);
    }
    co_return got;
  }(*in));
  EXPECT_EQ(lines, (std::vector<std::string>{"alpha", "beta", "gam\rma", "", "error: end of stream"}));
  EXPECT_EQ(as_chars(in->buffered()), "last");
}

TEST_P(BufferedStreamTest, BivalentExchangeWithPython) {
  // Text command, binary body (every byte value, CR and LF included), text trailer; the peer answers
  // with a text line, the body reversed, and a text line.
  auto peer = start_python(
      "f = c.makefile('rwb')\n"
      "cmd = f.readline().split()\n"
      "body = f.read(int(cmd[1]))\n"
      "done = f.readline()\n"
      "f.write(b'OK %d %d\\r\\n' % (len(body), sum(body)))\n"
      "f.write(bytes(reversed(body)))\n"
      "f.write(b'BYE ' + done.strip() + b'\\n')\n"
      "f.flush(); f.close(); c.close()\n");
  if (!peer) GTEST_SKIP() << "python3 is not available";
  auto conn = connect(peer->second);
  ASSERT_TRUE(conn) << conn.error().message();

  std::vector<std::byte> body(70000);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < body.size(); ++i) {
    body[i] = static_cast<std::byte>((i * 7 + i / 256) & 0xff);
    sum += static_cast<std::uint8_t>(body[i]);
  }
  auto result = run([](Buffered& c, std::vector<std::byte>& body) -> Task<std::string> {
    std::string out;
    if (auto ec = co_await c.write("PUT " + std::to_string(body.size()) + "\n")) co_return "write: " + ec.message();
    if (auto ec = co_await c.write(ConstBytes(body))) co_return "write: " + ec.message();
    if (auto ec = co_await c.write(std::string_view("DONE\r\n"))) co_return "write: " + ec.message();
    if (auto ec = co_await c.flush()) co_return "flush: " + ec.message();
    auto ok = co_await c.read_line(100);
    if (!ok) co_return "read_line: " + ok.error().message();
    out += std::string(*ok) + "|";
    std::vector<std::byte> reversed(body.size());
    auto n = co_await c.read_exactly(reversed);
    if (!n) co_return "read_exactly: " + n.error().message();
    bool same = std::equal(body.begin(), body.end(), reversed.rbegin());
    out += same ? "reversed|" : "garbled|";
    auto bye = co_await c.read_line(100);
    if (!bye) co_return "read_line: " + bye.error().message();
    out += std::string(*bye);
    co_return out;
  }(*conn, body));
  EXPECT_EQ(result, "OK 70000 " + std::to_string(sum) + "|reversed|BYE DONE");
}

TEST_P(BufferedStreamTest, PeerClosingMidLineGivesEndOfStreamAndKeepsTheBytes) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Buffered in(std::move(pair->first));
  auto outcome = run([](Buffered& in, StreamSocket& server) -> Task<std::error_code> {
    co_await server.send_all(as_bytes("whole\npart"));
    server.shutdown(ShutdownHow::send);
    auto first = co_await in.read_line(10);
    if (!first || *first != "whole") co_return make_error_code(std::errc::protocol_error);
    auto second = co_await in.read_line(10);
    co_return second ? std::error_code{} : second.error();
  }(in, pair->second));
  EXPECT_EQ(outcome, Errc::end_of_stream);
  EXPECT_EQ(as_chars(in.buffered()), "part");
}

// Regression (epoll): the peer's FIN was announced by an edge before the last data was read; the short read
// of that data must not make the next receive wait for an edge that never comes.
TEST_P(BufferedStreamTest, EndOfStreamAnnouncedBeforeTheLastShortReadIsSeen) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Buffered in(std::move(pair->first));
  run([](StreamSocket& s) -> Task<void> { co_await s.send_all(as_bytes("abc")); }(pair->second));
  ASSERT_FALSE(pair->second.shutdown(ShutdownHow::send));
  for (int i = 0; i < 3; ++i) reactor().run_once(Duration(0));  // the data + FIN edge is seen with no reader
  std::string out(10, '\0');
  auto n = run(in.read_exactly(as_writable_bytes(out)).into_task());
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), Errc::end_of_stream);
}

TEST_P(BufferedStreamTest, IdleReadPinsNoPoolBuffer) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Buffered in(std::move(pair->first));
  std::optional<std::string> line;
  reactor().spawn([](Buffered& in, std::optional<std::string>& out) -> Task<void> {
    auto got = co_await in.read_line(100);
    out = got ? std::string(*got) : "error: " + got.error().message();
  }(in, line));
  for (int i = 0; i < 5; ++i) reactor().run_once(Duration(0));
  EXPECT_FALSE(line.has_value());
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u) << "a read waiting for data holds no buffer";
  run([](StreamSocket& s) -> Task<void> { co_await s.send_all(as_bytes("hello\r\n")); }(pair->second));
  ASSERT_TRUE(run_until([&] { return line.has_value(); }));
  EXPECT_EQ(*line, "hello");
}

TEST_P(BufferedStreamTest, CallbackFormRunsOnALaterTurn) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Buffered in(std::move(pair->first));
  run([](StreamSocket& s) -> Task<void> { co_await s.send_all(as_bytes("one\ntwo\n")); }(pair->second));
  std::vector<std::string> lines;
  async_call(reactor(), in.read_line(10), [&](Result<std::string_view> l) {
    lines.emplace_back(l ? *l : "error");
    async_call(reactor(), in.read_line(10),
               [&](Result<std::string_view> l2) { lines.emplace_back(l2 ? *l2 : "error"); });
    EXPECT_EQ(lines.size(), 1u) << "the second handler did not run inside async_call, though its line was buffered";
  });
  EXPECT_TRUE(lines.empty()) << "the handler did not run inside async_call";
  ASSERT_TRUE(run_until([&] { return lines.size() == 2; }));
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two"}));
}

TEST_P(BufferedStreamTest, WriteErrorAfterPeerResetIsSticky) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Buffered out(std::move(pair->first));
  // Unread data at close makes the kernel answer with RST; later sends fail.
  run([](StreamSocket& s) -> Task<void> { co_await s.send_all(as_bytes("unread")); }(out.stream()));
  pair->second.close();
  std::vector<std::byte> chunk(64 * 1024, std::byte{'x'});
  auto first_error = run([](Buffered& out, std::vector<std::byte>& chunk) -> Task<std::error_code> {
    for (int i = 0; i < 1000; ++i) {  // bounded: the reset arrives after a few sends at most
      if (auto ec = co_await out.write(ConstBytes(chunk))) co_return ec;
    }
    co_return std::error_code{};
  }(out, chunk));
  ASSERT_TRUE(first_error) << "sending to a reset connection kept succeeding";
  EXPECT_TRUE(first_error == std::errc::connection_reset || first_error == std::errc::broken_pipe)
      << first_error.message();
  EXPECT_EQ(run(out.flush().into_task()), first_error);
  EXPECT_EQ(run(out.write(std::string_view("x")).into_task()), first_error);
}

// Chunk sizes cycle through small, odd, buffer-sized and larger-than-buffer ones.
constexpr std::size_t kSizes[] = {1, 700, 4096, 16383, 16384, 16385, 65536, 100000, 3};

// Streams a large volume through read_exactly / write in uneven chunks and checks every byte; the pool
// must serve it with a handful of buffers (recycled), not one per chunk.
TEST_P(BufferedStreamTest, StreamingHundredsOfMegabytesUsesABoundedNumberOfPoolBuffers) {
  constexpr std::uint64_t kTotal = 256ull << 20;
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  Buffered writer(std::move(pair->first));
  Buffered reader(std::move(pair->second));
  auto pattern = [](std::uint64_t at) { return static_cast<std::byte>((at ^ (at >> 9) ^ (at >> 17)) & 0xff); };

  std::error_code write_result;
  bool written = false;
  reactor().spawn([](Buffered& w, auto pattern, std::error_code& result, bool& done) -> Task<void> {
    std::vector<std::byte> chunk(100000);
    std::uint64_t at = 0;
    for (std::size_t i = 0; at < kTotal; ++i) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kSizes[i % std::size(kSizes)], kTotal - at));
      for (std::size_t k = 0; k < n; ++k) chunk[k] = pattern(at + k);
      if ((result = co_await w.write(ConstBytes(chunk.data(), n)))) break;
      at += n;
    }
    if (!result) result = co_await w.flush();
    done = true;
  }(writer, pattern, write_result, written));

  auto started = std::chrono::steady_clock::now();
  auto read_result = run(
      [](Buffered& r, auto pattern) -> Task<std::string> {
        std::vector<std::byte> chunk(100000);
        std::uint64_t at = 0;
        for (std::size_t i = 0; at < kTotal; ++i) {
          std::size_t size = kSizes[(i + 4) % std::size(kSizes)];
          std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, kTotal - at));
          auto got = co_await r.read_exactly(MutableBytes(chunk.data(), n));
          if (!got) co_return "read_exactly at " + std::to_string(at) + ": " + got.error().message();
          for (std::size_t k = 0; k < n; ++k)
            if (chunk[k] != pattern(at + k)) co_return "wrong byte at " + std::to_string(at + k);
          at += n;
        }
        co_return "ok";
      }(reader, pattern),
      120s);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(run_until([&] { return written; }));
  EXPECT_FALSE(write_result) << write_result.message();
  EXPECT_EQ(read_result, "ok");
  auto stats = reactor().receive_pool().stats();
  EXPECT_LE(stats.allocated, 8u) << "buffers are recycled, not allocated per chunk";
  EXPECT_EQ(stats.leased, 0u) << "idle streams give their buffers back";
  std::printf("[ metrics  ] %s: %llu MiB in %.2f s (%.0f MiB/s), pool buffers allocated: %zu\n",
              std::string(to_string(GetParam())).c_str(), static_cast<unsigned long long>(kTotal >> 20), seconds,
              static_cast<double>(kTotal >> 20) / seconds, stats.allocated);
}

RFARM_INSTANTIATE_BACKEND_TESTS(BufferedStreamTest);

}  // namespace
}  // namespace rfarm::test

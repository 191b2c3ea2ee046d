// BufferedStream and ChunkedWriter allocate nothing per call (issue 13): neither a read loop answered from
// the buffer nor a steady loop in which every call needs a receive or a send, over a StreamSocket and over a
// TlsStream, on both backends. Counted with a replaced operator new (test/reactor/stream/allocation_counter.hpp;
// OpenSSL's own malloc calls are not C++ allocations and are not counted).
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "reactor/stream/buffered_stream.hpp"
#include "reactor/stream/http_chunked.hpp"
#include "reactor/tls/tls_stream.hpp"
#include "test/reactor/stream/allocation_counter.hpp"
#include "test/support/tls_fixture.hpp"

namespace rfarm::test {
namespace {

constexpr int kCalls = 200;
constexpr int kWarmup = 10;  // the stream's I/O state and its resumer frames are made by the first calls

// Allocations between call kWarmup and call kCalls - kWarmup of a loop.
struct Window {
  std::optional<AllocationCounter> counter;
  std::size_t allocations = SIZE_MAX;
  int calls = 0;
  int started_empty = 0;  // reads that found nothing buffered: they had to receive
  bool ended = false;
  void tick() {
    ++calls;
    if (calls == kWarmup) counter.emplace();
    if (calls == kCalls - kWarmup) allocations = counter->count();
  }
};

// Reads kCalls lines, counting allocations in the window.
template <class S>
Task<void> read_lines(BufferedStream<S>& in, Window& w) {
  for (int i = 0; i < kCalls; ++i) {
    if (in.buffered().empty()) ++w.started_empty;
    auto line = co_await in.read_line(100);
    if (!line || *line != "line") break;
    w.tick();
  }
  w.ended = true;
}

// Sends one line per loop turn, so that every read_line of the reader needs a receive.
template <class S>
Task<void> send_lines_one_per_turn(Reactor& reactor, S& out) {
  for (int i = 0; i < kCalls; ++i) {
    if (!co_await out.send_all(as_bytes(std::string_view("line\n")))) co_return;
    co_await reactor.sleep(std::chrono::microseconds(50));  // a later turn: the reader takes the line first
  }
}

// Writes and flushes kCalls lines (each flush is a send), then a chunked body of kCalls chunks that do not
// fit the buffer (each a gathered send).
template <class S>
Task<void> write_and_flush(BufferedStream<S>& out, Window& w, Window& chunks, const std::string& big) {
  for (int i = 0; i < kCalls; ++i) {
    if (co_await out.write(std::string_view("line\n"))) break;
    if (co_await out.flush()) break;
    w.tick();
  }
  w.ended = true;
  ChunkedWriter<S> body(out);
  for (int i = 0; i < kCalls; ++i) {
    if (co_await body.write(std::string_view(big))) co_return;
    chunks.tick();
  }
  (void)co_await body.finish();
}

class BufferedAllocationTest : public TlsTest {
 protected:
  template <class S>
  void read_loop_answered_from_the_buffer(S writer, S reader_stream) {
    BufferedStream<S> in(std::move(reader_stream));
    std::string many;
    for (int i = 0; i < kCalls; ++i) many += "line\n";
    ASSERT_TRUE(run([](S& s, std::string d) -> Task<bool> {
      auto sent = co_await s.send_all(as_bytes(d));
      co_return sent.has_value();
    }(writer, many)));
    Window w;
    run(read_lines(in, w));
    EXPECT_EQ(w.calls, kCalls);
    EXPECT_EQ(w.allocations, 0u) << "read_line answered from the buffer allocated";
  }

  template <class S>
  void steady_receive_loop(S writer, S reader_stream) {
    BufferedStream<S> in(std::move(reader_stream));
    Window w;
    reactor().spawn(read_lines(in, w));
    run(send_lines_one_per_turn(reactor(), writer), 20s);
    ASSERT_TRUE(run_until([&] { return w.ended; }));
    EXPECT_EQ(w.calls, kCalls);
    EXPECT_EQ(w.allocations, 0u) << "read_line that needed a receive allocated";
    EXPECT_GT(w.started_empty, kCalls * 9 / 10) << "the reads were meant to need a receive each";
  }

  template <class S>
  void steady_send_loop(S writer_stream, S reader) {
    BufferedStream<S> out(std::move(writer_stream));
    BufferedStream<S> in(std::move(reader));
    std::string big(20000, 'b');  // larger than a pool buffer: each chunk is a gathered send
    std::size_t expected = kCalls * 5 + kCalls * (big.size() + 8) + 5;  // "4e20\r\n" data "\r\n", "0\r\n\r\n"
    std::string received;
    received.reserve(expected);  // the test's own appends must not count
    bool done_reading = false;
    reactor().spawn([](BufferedStream<S>& in, std::string& got, std::size_t want, bool& done) -> Task<void> {
      std::string buffer(64 * 1024, '\0');
      while (got.size() < want) {
        auto n = co_await in.read_some(as_writable_bytes(buffer));
        if (!n || *n == 0) break;
        got.append(buffer.data(), *n);
      }
      done = true;
    }(in, received, expected, done_reading));
    Window w, chunks;
    run(write_and_flush(out, w, chunks, big), 20s);
    EXPECT_EQ(w.calls, kCalls);
    EXPECT_EQ(w.allocations, 0u) << "write + flush allocated";
    EXPECT_EQ(chunks.calls, kCalls);
    EXPECT_EQ(chunks.allocations, 0u) << "ChunkedWriter::write allocated";
    ASSERT_TRUE(run_until([&] { return done_reading; }, 10s));
    EXPECT_EQ(received.size(), expected);
    EXPECT_EQ(received.substr(kCalls * 5, 10), "4e20\r\nbbbb") << "the chunked body follows the lines";
    EXPECT_TRUE(received.ends_with("\r\n0\r\n\r\n"));
  }

  std::pair<StreamSocket, StreamSocket> socket_pair() {
    auto pair = StreamSocket::pair(reactor());
    EXPECT_TRUE(pair);
    return std::move(*pair);
  }
};

TEST_P(BufferedAllocationTest, SocketReadLoopAnsweredFromTheBufferAllocatesNothing) {
  auto [a, b] = socket_pair();
  read_loop_answered_from_the_buffer(std::move(a), std::move(b));
}

TEST_P(BufferedAllocationTest, SocketSteadyReceiveLoopAllocatesNothingPerCall) {
  auto [a, b] = socket_pair();
  steady_receive_loop(std::move(a), std::move(b));
}

TEST_P(BufferedAllocationTest, SocketWriteFlushAndChunksAllocateNothingPerCall) {
  auto [a, b] = socket_pair();
  steady_send_loop(std::move(a), std::move(b));
}

TEST_P(BufferedAllocationTest, TlsSteadyReceiveLoopAllocatesNothingPerCall) {
  auto [client, server] = connected_pair(client_context(), server_context());
  steady_receive_loop(std::move(client), std::move(server));
}

TEST_P(BufferedAllocationTest, TlsWriteFlushAndChunksAllocateNothingPerCall) {
  auto [client, server] = connected_pair(client_context(), server_context());
  steady_send_loop(std::move(client), std::move(server));
}

RFARM_INSTANTIATE_BACKEND_TESTS(BufferedAllocationTest);

}  // namespace
}  // namespace rfarm::test

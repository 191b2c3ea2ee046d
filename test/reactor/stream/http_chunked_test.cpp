// Chunked HTTP bodies against Python's own HTTP implementation, on every backend:
//  * our reader decodes what http.server sends with Transfer-Encoding: chunked (extensions, trailers);
//  * http.client posts a chunked body to a tiny server of ours, which decodes it and answers with a chunked
//    echo that http.client decodes;
//  * our writer posts a chunked body with trailers to an http.server handler that decodes it by hand.
// Malformed input and limits are in http_chunked_fuzz_test.cpp.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test/support/backend_fixture.hpp"
#include "reactor/stream/http_chunked.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::test {
namespace {

using Buffered = BufferedStream<StreamSocket>;

// The body the Python scripts and the C++ side both build: chunk i holds bytes (i * 31 + k) & 0xff.
std::string chunk_bytes(std::size_t i, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t k = 0; k < size; ++k) s[k] = static_cast<char>((i * 31 + k) & 0xff);
  return s;
}

std::uint64_t byte_sum(std::string_view s) {
  std::uint64_t sum = 0;
  for (char c : s) sum += static_cast<std::uint8_t>(c);
  return sum;
}

constexpr std::size_t kChunkSizes[] = {1, 10, 255, 4096, 70000, 3, 16384};

const char* const kChunkedServer = R"PY(
import http.server
SIZES = [1, 10, 255, 4096, 70000, 3, 16384]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Trailer", "X-Checksum, X-Count")
        self.end_headers()
        total = 0
        for i, size in enumerate(SIZES):
            data = bytes((i * 31 + k) & 0xff for k in range(size))
            total += sum(data)
            head = (b"%X" if i % 3 == 0 else b"%x") % size     # both hex cases
            if i % 2: head += b" ; name=value;flag"            # extensions, with BWS
            self.wfile.write(head + b"\r\n" + data + b"\r\n")
        self.wfile.write(b"0\r\nX-Checksum: %d\r\nX-Count:%d  \r\n\r\n" % (total, len(SIZES)))
        self.wfile.flush()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
server.timeout = 20
print(server.server_address[1], flush=True)
server.handle_request()
)PY";

const char* const kChunkedClient = R"PY(
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
def body():
    for i in range(40):
        yield bytes((i + k) & 0xff for k in range(i * 997 + 1))
conn.request("POST", "/upload", body=body())          # no length: http.client sends it chunked
response = conn.getresponse()
data = response.read()                                 # http.client decodes our chunked answer
print(response.status, response.getheader("Transfer-Encoding"), len(data), sum(data), flush=True)
)PY";

const char* const kDecodingServer = R"PY(
import http.server
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body, trailers, sizes = b"", [], []
        while True:
            line = self.rfile.readline(65537)
            if not line.endswith(b"\r\n"):
                raise ValueError("chunk-size line without CRLF: %r" % line)
            size = int(line.split(b";")[0], 16)
            if size == 0:
                break
            sizes.append(size)
            body += self.rfile.read(size)
            if self.rfile.read(2) != b"\r\n":
                raise ValueError("chunk without CRLF")
        while True:
            line = self.rfile.readline(65537)
            if line == b"\r\n":
                break
            trailers.append(line.decode().strip())
        reply = ("%s %d %d %d %s" % (self.headers["Transfer-Encoding"], len(sizes), len(body), sum(body),
                                     "|".join(trailers))).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
server.timeout = 20
print(server.server_address[1], flush=True)
server.handle_request()
)PY";

// Reads a header block: the status or request line, then fields until the empty line.
Task<Result<std::vector<std::string>>> read_head(Buffered& in) {
  std::vector<std::string> lines;
  for (int i = 0; i < 100; ++i) {
    auto line = co_await in.read_line(8192);
    if (!line) co_return fail(line.error());
    if (line->empty()) co_return lines;
    lines.emplace_back(*line);
  }
  co_return fail(Errc::line_too_long);
}

bool has_line(const std::vector<std::string>& lines, std::string_view wanted) {
  for (const std::string& l : lines)
    if (l.size() == wanted.size() && std::equal(l.begin(), l.end(), wanted.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return true;
  return false;
}

using HttpChunkedTest = BackendTest;

TEST_P(HttpChunkedTest, ReaderDecodesWhatPythonHttpServerSends) {
  auto peer = ChildProcess::spawn({python3(), "-c", kChunkedServer});
  ASSERT_TRUE(peer) << peer.error().message();
  auto port = peer->read_line(10s);
  if (!port || port->empty()) GTEST_SKIP() << "python3 http.server did not start";
  auto where = Address::loopback_v4(static_cast<std::uint16_t>(std::stoi(*port)));
  auto sock = run(StreamSocket::connect(reactor(), where, 5s));
  ASSERT_TRUE(sock) << sock.error().message();
  Buffered conn(std::move(*sock));

  struct Outcome {
    std::vector<std::string> head;
    Result<std::string> body = fail(Errc::ok);
    std::vector<HeaderField> trailers;
  };
  auto outcome = run([](Buffered& c) -> Task<Outcome> {
    Outcome o;
    co_await c.write(std::string_view("GET /chunked HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    if (auto ec = co_await c.flush()) {
      o.body = fail(ec);
      co_return o;
    }
    auto head = co_await read_head(c);
    if (!head) {
      o.body = fail(head.error());
      co_return o;
    }
    o.head = *head;
    ChunkedReader reader(c);
    o.body = co_await reader.read_all(1 << 20);
    o.trailers = reader.trailers();
    co_return o;
  }(conn));

  ASSERT_FALSE(outcome.head.empty());
  EXPECT_EQ(outcome.head[0].substr(0, 12), "HTTP/1.1 200");
  EXPECT_TRUE(has_line(outcome.head, "Transfer-Encoding: chunked"));
  ASSERT_TRUE(outcome.body) << outcome.body.error().message();
  std::string expected;
  for (std::size_t i = 0; i < std::size(kChunkSizes); ++i) expected += chunk_bytes(i, kChunkSizes[i]);
  EXPECT_EQ(outcome.body->size(), expected.size());
  EXPECT_TRUE(*outcome.body == expected) << "body differs";
  EXPECT_EQ(outcome.trailers, (std::vector<HeaderField>{{"X-Checksum", std::to_string(byte_sum(expected))},
                                                        {"X-Count", std::to_string(std::size(kChunkSizes))}}));
}

TEST_P(HttpChunkedTest, PythonHttpClientPostsChunkedAndDecodesOurChunkedAnswer) {
  auto listener = listen_loopback();
  ASSERT_TRUE(listener) << listener.error().message();
  auto peer = ChildProcess::spawn({python3(), "-c", kChunkedClient, std::to_string(listener->local_address()->port())});
  ASSERT_TRUE(peer) << peer.error().message();

  struct Seen {
    std::vector<std::string> head;
    std::string body;
    std::error_code error;
  };
  auto seen = run(
      [](StreamListener& l) -> Task<Seen> {
        Seen s;
        auto accepted = co_await l.accept();
        if (!accepted) {
          s.error = accepted.error();
          co_return s;
        }
        Buffered c(std::move(*accepted));
        auto head = co_await read_head(c);
        if (!head) {
          s.error = head.error();
          co_return s;
        }
        s.head = *head;
        ChunkedReader reader(c);
        auto body = co_await reader.read_all(1 << 22);
        if (!body) {
          s.error = body.error();
          co_return s;
        }
        s.body = *body;
        // Echo it back chunked, in pieces of several sizes (small ones buffered, large ones gathered).
        co_await c.write(
            std::string_view("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
        ChunkedWriter writer(c);
        std::string_view rest = s.body;
        static constexpr std::size_t kPieces[] = {1, 100, 5000, 40000};
        for (std::size_t piece : kPieces) {
          std::size_t n = std::min(piece, rest.size());
          if (auto ec = co_await writer.write(rest.substr(0, n))) {
            s.error = ec;
            co_return s;
          }
          rest.remove_prefix(n);
        }
        if (auto ec = co_await writer.write(rest)) s.error = ec;
        HeaderField trailers[] = {{"X-Echoed", std::to_string(s.body.size())}};
        if (auto ec = co_await writer.finish(trailers)) s.error = ec;
        co_return s;
      }(*listener),
      20s);

  ASSERT_FALSE(seen.error) << seen.error.message();
  ASSERT_FALSE(seen.head.empty());
  EXPECT_EQ(seen.head[0], "POST /upload HTTP/1.1");
  EXPECT_TRUE(has_line(seen.head, "Transfer-Encoding: chunked"));
  std::string expected;
  for (std::size_t i = 0; i < 40; ++i) {
    std::size_t size = i * 997 + 1;
    for (std::size_t k = 0; k < size; ++k) expected += static_cast<char>((i + k) & 0xff);
  }
  EXPECT_TRUE(seen.body == expected) << "decoded " << seen.body.size() << " bytes, expected " << expected.size();
  auto report = peer->read_line(20s);
  ASSERT_TRUE(report) << "http.client printed nothing";
  EXPECT_EQ(*report, "200 chunked " + std::to_string(expected.size()) + " " + std::to_string(byte_sum(expected)));
  EXPECT_EQ(peer->wait(10s), 0);
}

TEST_P(HttpChunkedTest, WriterBodyIsDecodedByPythonWithTrailers) {
  auto peer = ChildProcess::spawn({python3(), "-c", kDecodingServer});
  ASSERT_TRUE(peer) << peer.error().message();
  auto port = peer->read_line(10s);
  if (!port || port->empty()) GTEST_SKIP() << "python3 http.server did not start";
  auto where = Address::loopback_v4(static_cast<std::uint16_t>(std::stoi(*port)));
  auto sock = run(StreamSocket::connect(reactor(), where, 5s));
  ASSERT_TRUE(sock) << sock.error().message();
  Buffered conn(std::move(*sock));

  std::string sent;
  auto reply = run([](Buffered& c, std::string& sent) -> Task<Result<std::string>> {
    co_await c.write(std::string_view("POST /up HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                                      "Trailer: X-Sum\r\nConnection: close\r\n\r\n"));
    ChunkedWriter writer(c);
    for (std::size_t i = 0; i < std::size(kChunkSizes); ++i) {
      std::string data = chunk_bytes(i, kChunkSizes[i]);
      sent += data;
      if (auto ec = co_await writer.write(data)) co_return fail(ec);
    }
    if (auto ec = co_await writer.write(std::string_view())) co_return fail(ec);  // writes nothing
    HeaderField trailers[] = {{"X-Sum", std::to_string(byte_sum(sent))}, {"X-Note", "done"}};
    if (auto ec = co_await writer.finish(trailers)) co_return fail(ec);
    auto head = co_await read_head(c);
    if (!head) co_return fail(head.error());
    std::size_t length = 0;
    for (const std::string& line : *head)
      if (line.starts_with("Content-Length: ")) length = std::stoul(line.substr(16));
    std::string body(length, '\0');
    auto n = co_await c.read_exactly(as_writable_bytes(body));
    if (!n) co_return fail(n.error());
    co_return body;
  }(conn, sent));

  ASSERT_TRUE(reply) << reply.error().message();
  EXPECT_EQ(*reply, "chunked " + std::to_string(std::size(kChunkSizes)) + " " + std::to_string(sent.size()) + " " +
                        std::to_string(byte_sum(sent)) + " X-Sum: " + std::to_string(byte_sum(sent)) + "|X-Note: done");
}

RFARM_INSTANTIATE_BACKEND_TESTS(HttpChunkedTest);

}  // namespace
}  // namespace rfarm::test

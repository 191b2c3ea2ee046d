// BufferedStream and the chunked body codec over TlsStream, on every backend: the same code that runs over
// StreamSocket, through the ByteStream concept, with no TLS-specific changes.
#include <gtest/gtest.h>

#include <string>

#include "reactor/stream/buffered_stream.hpp"
#include "reactor/stream/http_chunked.hpp"
#include "reactor/tls/tls_stream.hpp"
#include "test/support/tls_fixture.hpp"

namespace rfarm::test {
namespace {

static_assert(ByteStream<TlsStream> && PooledReceiver<TlsStream> && HasReactor<TlsStream>);

using BufferedTls = BufferedStream<TlsStream>;
using BufferedTlsTest = TlsTest;

TEST_P(BufferedTlsTest, LinesBinaryAndAChunkedBodyCrossTls) {
  auto [client_tls, server_tls] = connected_pair(client_context(), server_context());
  BufferedTls client(std::move(client_tls));
  BufferedTls server(std::move(server_tls));
  std::string binary = pattern(50000, 7);  // every byte value, CR and LF included

  std::error_code sent;
  bool sent_done = false;
  reactor().spawn([](BufferedTls& out, const std::string& binary, std::error_code& result, bool& done) -> Task<void> {
    auto step = [&]() -> Task<std::error_code> {
      if (auto ec = co_await out.write("LEN " + std::to_string(binary.size()) + "\r\n")) co_return ec;
      if (auto ec = co_await out.write(std::string_view(binary))) co_return ec;
      if (auto ec = co_await out.write(std::string_view("END\n"))) co_return ec;
      ChunkedWriter body(out);
      if (auto ec = co_await body.write(std::string_view("chunked "))) co_return ec;
      if (auto ec = co_await body.write(std::string_view(binary).substr(0, 20000))) co_return ec;
      HeaderField trailers[] = {{"X-Over", "tls"}};
      co_return co_await body.finish(trailers);
    };
    result = co_await step();
    done = true;
  }(server, binary, sent, sent_done));

  auto received = run([](BufferedTls& in, const std::string& binary) -> Task<std::string> {
    auto head = co_await in.read_line(100);
    if (!head) co_return "read_line: " + head.error().message();
    if (*head != "LEN " + std::to_string(binary.size())) co_return "bad head: " + std::string(*head);
    std::string body(binary.size(), '\0');
    if (auto n = co_await in.read_exactly(as_writable_bytes(body)); !n) co_return "read_exactly: " + n.error().message();
    if (body != binary) co_return "binary garbled";
    auto end = co_await in.read_line(100);
    if (!end || *end != "END") co_return "bad end line";
    ChunkedReader reader(in);
    auto chunked = co_await reader.read_all(1 << 20);
    if (!chunked) co_return "chunked: " + chunked.error().message();
    if (*chunked != "chunked " + binary.substr(0, 20000)) co_return "chunked body garbled";
    if (reader.trailers() != std::vector<HeaderField>{{"X-Over", "tls"}}) co_return "trailers lost";
    co_return "ok";
  }(client, binary));

  EXPECT_EQ(received, "ok");
  ASSERT_TRUE(run_until([&] { return sent_done; }));
  EXPECT_FALSE(sent) << sent.message();
}

RFARM_INSTANTIATE_BACKEND_TESTS(BufferedTlsTest);

}  // namespace
}  // namespace rfarm::test

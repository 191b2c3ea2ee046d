// http-hello: a minimal HTTP/1.1 keep-alive responder on the reactor; every request gets "Hello, World!".
// It is the rfarm side of bench/run's http scenario (wrk against it, nginx and a raw epoll responder), the
// TechEmpower "plaintext" test in spirit.
//
//   http-hello --listen tcp:127.0.0.1:0 [--backend epoll|uring|auto] [--spin-us N] [--log-level LEVEL]
//   http-hello --listen unix:/tmp/hello.sock
//
// Pipelining-safe: every complete request in what one read brought is answered, in order, and those answers
// leave in one send; a request cut by a read boundary waits for the rest. Requests are parsed by
// tools/http_request_parser.cpp (a separate unit a fuzzer can call); a request it refuses gets
// "400 Bad Request" and the connection is closed once that is sent (the write side first, then, after
// whatever the client still sends is read or 2 s pass, the socket, so the 400 is not lost to a reset). A
// request with "Connection: close", or an HTTP/1.0 one without keep-alive, is answered and then closed the
// same way. The first line on stdout is the bound endpoint; SIGINT/SIGTERM stop it (exit status 0).
// Multi-core serving (--threads) comes with the runtime's sharded listeners.
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_listener.hpp"
#include "tools/accept_loop.hpp"
#include "tools/cli.hpp"
#include "tools/http_request_parser.hpp"

using namespace rfarm;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kBody = "Hello, World!";

// The responses, with their Date header (RFC 9110 section 6.6.1) redone once a second by a timer rather than
// formatted per request: what nginx and every TechEmpower entry do.
class Responses {
 public:
  Responses() { refresh(); }

  void refresh() {
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char date[64];
    std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    std::string head = std::string("HTTP/1.1 200 OK\r\nServer: rfarm\r\nDate: ") + date +
                       "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(kBody.size()) +
                       "\r\nConnection: ";
    keep_alive_head_ = head + "keep-alive\r\n\r\n";
    close_head_ = head + "close\r\n\r\n";
  }

  // Appends the answer to one request to out.
  void append_hello(std::string& out, const tools::HttpRequest& request) const {
    out += request.keep_alive ? keep_alive_head_ : close_head_;
    if (request.method != "HEAD") out += kBody;
  }

  static void append_bad_request(std::string& out) {
    out += "HTTP/1.1 400 Bad Request\r\nServer: rfarm\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  }

 private:
  std::string keep_alive_head_, close_head_;
};

std::string_view as_text(ConstBytes bytes) { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }
ConstBytes as_bytes(std::string_view text) { return {reinterpret_cast<const std::byte*>(text.data()), text.size()}; }

// Close after a final answer: stop sending (the client reads end of stream after the answer), read what the
// client still sends so closing does not reset the connection under the answer, give up after 2 s.
Task<void> close_gracefully(Reactor& reactor, StreamSocket& conn) {
  (void)conn.shutdown(ShutdownHow::send);
  TimerId deadline = reactor.after(2s, [&conn] { conn.close(); });
  for (int reads = 0; reads < 64; ++reads) {
    auto data = co_await conn.recv_pooled();
    if (!data || data->empty()) break;
  }
  reactor.cancel(deadline);
}

// One connection: answer every complete request of each read in one send, keep a partial one for the next.
Task<void> serve(StreamSocket conn, Reactor& reactor, const Responses& responses) {
  std::string carry;  // the start of a request a read boundary cut
  std::string out;    // the answers to one read, sent together
  for (;;) {
    auto data = co_await conn.recv_pooled();  // a pool buffer only while bytes are in hand: idle costs none
    if (!data || data->empty()) co_return;
    std::string_view input = as_text(data->bytes());
    if (!carry.empty()) {
      carry.append(input);
      input = carry;
    }
    out.clear();
    bool close_after = false;
    std::size_t used = 0;
    while (used < input.size()) {
      auto parsed = tools::parse_http_request(input.substr(used));
      if (parsed.status == tools::HttpParseStatus::incomplete) break;
      if (parsed.status == tools::HttpParseStatus::bad) {
        reactor.log().debug("http-hello: bad request: {}", parsed.error);
        Responses::append_bad_request(out);
        close_after = true;
        break;
      }
      responses.append_hello(out, parsed.request);
      used += parsed.request.size;
      if (!parsed.request.keep_alive) {
        close_after = true;
        break;
      }
    }
    if (!out.empty() && !co_await conn.send_all(as_bytes(out))) co_return;
    if (close_after) {
      co_await close_gracefully(reactor, conn);
      co_return;
    }
    carry = std::string(input.substr(used));  // a copy first: input may point into carry
  }
}

}  // namespace

int main(int argc, char** argv) {
  EndpointSpec listen{};
  tools::CommandLine cli("http-hello",
                         "Answers every HTTP/1.1 request with \"Hello, World!\" (keep-alive, pipelining-safe).\n"
                         "The first line on stdout is the bound endpoint. SIGINT and SIGTERM stop it.");
  tools::add_endpoint_option(cli.app(), "--listen", listen, tools::EndpointUse::listen,
                             {Transport::tcp, Transport::unix_stream},
                             "Where: tcp:HOST:PORT or unix:PATH|@NAME (PORT 0: any free port)")
      ->required();
  cli.add_reactor_options();
  if (auto status = cli.parse(argc, argv)) return *status;

  auto reactor = Reactor::create(cli.reactor_options());
  if (!reactor) return tools::report_failure("http-hello", "cannot start the reactor: " + reactor.error().message());
  Reactor& loop = **reactor;
  for (int signo : {SIGINT, SIGTERM}) loop.on_signal(signo, [&](int) { loop.stop(); });
  auto listener = StreamListener::listen(loop, listen.address);
  if (!listener) return tools::report_failure("http-hello", "listen on " + listen.to_string() + ": " + listener.error().message());
  auto bound = listener->local_address();
  std::printf("%s\n", EndpointSpec{listen.transport, bound ? *bound : listen.address}.to_string().c_str());
  std::fflush(stdout);

  Responses responses;
  loop.every(1s, [&responses] { responses.refresh(); });
  loop.spawn(tools::accept_loop(loop, *listener, [&](StreamSocket conn) {
    return serve(std::move(conn), loop, responses);
  }));
  loop.run();
  return tools::kExitSuccess;
}

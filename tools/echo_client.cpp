// echo-client: sends messages through an echo server and checks every byte that comes back.
//
//   echo-client --connect tcp:127.0.0.1:7000|tcp:HOST:PORT [--conns 4] [--messages 1000] [--size 64] [--backend epoll|uring]
//
// Each connection sends a message, waits for its echo, compares it, and repeats. Prints what it verified and
// the round-trip percentiles; exits non-zero if anything failed. (Load generation for benchmarks is
// bench/echo_load, which deliberately does not depend on this library.)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/dns/connect_by_name.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/net/stream_socket.hpp"

using namespace rfarm;
using std::chrono::steady_clock;

namespace {

struct Settings {
  EndpointSpec endpoint;
  Resolver* resolver = nullptr;  // when the endpoint names a host: looked up on the loop, every address tried
  int conns = 1;
  int messages = 1000;
  std::size_t size = 64;
};

struct Outcome {
  std::vector<double> rtt_us;
  int failures = 0;
  std::string first_error;
};

void record_failure(Outcome& out, std::string what) {
  if (out.failures++ == 0) out.first_error = std::move(what);
}

Task<void> run_connection(Reactor& reactor, const Settings& s, int id, Outcome& out) {
  // Not "cond ? co_await a : co_await b": g++ 12 mis-destroys the result of a co_await inside ?:.
  Result<StreamSocket> conn = fail(Errc::invalid_address);
  if (s.endpoint.host.empty()) {
    conn = co_await StreamSocket::connect(reactor, s.endpoint.address, std::chrono::seconds(5));
  } else {
    conn = co_await connect_by_name(reactor, *s.resolver, s.endpoint.host, s.endpoint.port,
                                    {.timeout = std::chrono::seconds(5)});
  }
  if (!conn) {
    record_failure(out, "connect: " + conn.error().message());
    co_return;
  }
  std::string message(s.size, '\0');
  std::string echo(s.size, '\0');
  for (int m = 0; m < s.messages; ++m) {
    for (std::size_t i = 0; i < s.size; ++i) message[i] = static_cast<char>('a' + (i + m + id) % 26);
    auto start = steady_clock::now();
    auto sent = co_await conn->send_all(as_bytes(message));
    auto got = sent ? co_await conn->recv_exactly(as_writable_bytes(echo)) : Result<std::size_t>(fail(sent.error()));
    if (!got) {
      record_failure(out, "exchange: " + got.error().message());
      co_return;
    }
    out.rtt_us.push_back(std::chrono::duration<double, std::micro>(steady_clock::now() - start).count());
    if (echo != message) record_failure(out, "echo differs from what was sent");
  }
  conn->shutdown(ShutdownHow::send);
  char tail;
  auto eof = co_await conn->recv(MutableBytes(reinterpret_cast<std::byte*>(&tail), 1));
  if (!eof || *eof != 0) record_failure(out, "server did not close after our half-close");
}

// Runs every connection concurrently; the last one to finish stops the loop.
void run_all(Reactor& reactor, const Settings& s, Outcome& out) {
  int remaining = s.conns;
  for (int c = 0; c < s.conns; ++c) {
    reactor.spawn([](Reactor& r, const Settings& st, int id, Outcome& o, int& left) -> Task<void> {
      co_await run_connection(r, st, id, o);
      if (--left == 0) r.stop();
    }(reactor, s, c, out, remaining));
  }
  reactor.run();
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "echo-client: %s\n"
               "usage: echo-client --connect tcp:HOST:PORT|unix:PATH [--conns N] [--messages N] [--size BYTES]"
               " [--backend epoll|uring|auto]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  ReactorOptions options;
  bool have_endpoint = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (arg == "--connect") {
      auto e = EndpointSpec::parse_connect(value());
      if (!e || (e->transport != Transport::tcp && e->transport != Transport::unix_stream))
        usage("bad --connect endpoint");
      s.endpoint = *e;
      have_endpoint = true;
    } else if (arg == "--conns") {
      s.conns = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--messages") {
      s.messages = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--size") {
      s.size = static_cast<std::size_t>(std::max(1, std::atoi(value().c_str())));
    } else if (arg == "--backend") {
      auto kind = parse_backend_kind(value());
      if (!kind) usage("unknown backend");
      options.backend = *kind;
    } else {
      usage("unknown argument");
    }
  }
  if (!have_endpoint) usage("--connect is required");

  auto reactor = Reactor::create(options);
  if (!reactor) {
    std::fprintf(stderr, "echo-client: cannot start the reactor: %s\n", reactor.error().message().c_str());
    return 1;
  }
  std::unique_ptr<Resolver> resolver;
  if (!s.endpoint.host.empty()) {
    auto created = Resolver::create(**reactor);
    if (!created) {
      std::fprintf(stderr, "echo-client: cannot start the resolver: %s\n", created.error().message().c_str());
      return 1;
    }
    resolver = std::move(*created);
    s.resolver = resolver.get();
  }
  Outcome out;
  auto start = steady_clock::now();
  run_all(**reactor, s, out);
  double seconds = std::chrono::duration<double>(steady_clock::now() - start).count();

  std::size_t done = out.rtt_us.size();
  std::printf("echo-client: %zu of %d messages of %zu bytes echoed intact over %d connection(s) in %.2f s (%s backend)\n",
              done, s.conns * s.messages, s.size, s.conns, seconds, std::string(to_string((*reactor)->backend_kind())).c_str());
  std::printf("echo-client: round trip p50 %.1f us, p99 %.1f us\n", percentile(out.rtt_us, 0.50), percentile(out.rtt_us, 0.99));
  if (out.failures) {
    std::printf("echo-client: %d failure(s); first: %s\n", out.failures, out.first_error.c_str());
    return 1;
  }
  return 0;
}

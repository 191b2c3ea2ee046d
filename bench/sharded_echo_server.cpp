// sharded_echo_server.cpp - a TCP echo server on a Runtime, for the connection-distribution benchmark
// (bench/run_distribution_bench.py drives it with echo_load).
//
//   sharded_echo_server [--listen tcp:HOST:PORT] [--threads N] [--distribution reuseport|reuseport-cpu|round-robin]
//                       [--backend epoll|uring|auto] [--no-pin]
//
// Prints the bound endpoint first ("tcp:127.0.0.1:40123"), as tools/echo-server does. SIGINT / SIGTERM shut it
// down gracefully (connections get 2 s to finish); at exit it prints, on stderr, how many connections each
// core accepted. Each connection is the README's coroutine echo loop.
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "reactor/runtime/runtime.hpp"
#include "reactor/runtime/sharded_listener.hpp"
#include "reactor/runtime/shutdown.hpp"

using namespace rfarm;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "sharded_echo_server: %s\n", why.c_str());
  std::exit(2);
}

Task<void> echo(StreamSocket conn) {
  ConnectionGuard live(conn);
  for (;;) {
    auto data = co_await conn.recv_pooled();
    if (!data || data->empty()) break;
    if (!co_await conn.send_all(data->bytes())) break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "tcp:127.0.0.1:0";
  RuntimeOptions options;
  options.shutdown_deadline = 2s;
  ShardedListenOptions listen_options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--listen") {
      listen = value();
    } else if (arg == "--threads") {
      options.threads = static_cast<unsigned>(std::stoul(value()));
    } else if (arg == "--distribution") {
      auto d = parse_connection_distribution(value());
      if (!d) die("--distribution: reuseport, reuseport-cpu or round-robin");
      listen_options.distribution = *d;
    } else if (arg == "--backend") {
      auto kind = parse_backend_kind(value());
      if (!kind) die("--backend: epoll, uring or auto");
      options.reactor.backend = *kind;
    } else if (arg == "--no-pin") {
      options.pin = false;
    } else {
      die("usage: sharded_echo_server [--listen tcp:HOST:PORT] [--threads N] "
          "[--distribution reuseport|reuseport-cpu|round-robin] [--backend epoll|uring|auto] [--no-pin]");
    }
  }
  if (listen.rfind("tcp:", 0) != 0) die("--listen: tcp:HOST:PORT");
  auto address = Address::parse(listen.substr(4));
  if (!address) die("--listen: " + address.error().message());

  auto runtime = Runtime::create(options);
  if (!runtime) die("Runtime::create: " + runtime.error().message());
  Runtime& rt = **runtime;
  if (auto ec = rt.start()) die("start: " + ec.message());

  // Listening is a coroutine of core 0 (the sockets are opened core by core); main waits for its answer.
  std::promise<Result<ShardedListener>> opened;
  rt.post(0, [&] {
    this_reactor().spawn([](Runtime& r, Address where, ShardedListenOptions lo, std::promise<Result<ShardedListener>>& out) -> Task<void> {
      out.set_value(co_await ShardedListener::listen(r, where, lo, [](StreamSocket conn) {
        this_reactor().spawn(echo(std::move(conn)));
      }));
    }(rt, *address, listen_options, opened));
  });
  Result<ShardedListener> listener = opened.get_future().get();
  if (!listener) die("listen: " + listener.error().message());
  std::printf("tcp:%s\n", listener->local_address().to_string().c_str());
  std::fflush(stdout);

  rt.join();  // until a signal's shutdown has drained the cores
  const auto accepted = listener->accepted_per_core();
  std::fprintf(stderr, "sharded_echo_server: %s, accepted per core:", std::string(to_string(listener->distribution())).c_str());
  for (std::uint64_t n : accepted) std::fprintf(stderr, " %llu", static_cast<unsigned long long>(n));
  std::fprintf(stderr, "\n");
  return 0;
}

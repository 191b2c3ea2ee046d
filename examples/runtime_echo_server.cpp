// One reactor per core: the README's "One reactor per core" example, built and tested like echo_server.cpp.
//
//   build/examples/example-runtime-echo-server [PORT]   # PORT 0 picks a free one; prints the bound address
#include <cstdio>
#include <cstdlib>

#include "reactor/runtime/runtime.hpp"
#include "reactor/runtime/sharded_listener.hpp"
#include "reactor/runtime/shutdown.hpp"

using namespace rfarm;

Task<void> echo(StreamSocket conn) {
  ConnectionGuard live(conn);                         // shutdown closes it at the deadline if still open
  for (;;) {
    auto data = co_await conn.recv_pooled();
    if (!data || data->empty()) break;
    if (!co_await conn.send_all(data->bytes())) break;
  }
}

// On core 0: opens a listening socket on every core (SO_REUSEPORT) and starts accepting on each.
Task<void> serve(Runtime& runtime, std::uint16_t port, int& status) {
  auto listener = co_await ShardedListener::listen(runtime, Address::loopback_v4(port), {},
      [](StreamSocket conn) { this_reactor().spawn(echo(std::move(conn))); });   // on the core that owns conn
  if (!listener) {
    std::fprintf(stderr, "listen: %s\n", listener.error().message().c_str());
    status = 1;
    runtime.stop();
    co_return;
  }
  std::printf("listening on %s\n", listener->local_address().to_string().c_str());
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 7000);
  auto runtime = Runtime::create().value();           // one core per CPU, pinned; RuntimeOptions{.threads = 4, ...}
  int status = 0;
  runtime->post(0, [&] { this_reactor().spawn(serve(*runtime, port, status)); });
  runtime->run();   // SIGINT/SIGTERM: stop accepting, drain, close at the deadline; a second signal exits at once
  return status;
}

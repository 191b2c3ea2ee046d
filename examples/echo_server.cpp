// A coroutine echo server on the reactor: the README's "Using the reactor" example, built and tested here so
// the documentation cannot rot (test/examples checks that README.md shows this file as it is).
//
//   build/examples/example-echo-server [PORT]     # PORT 0 picks a free one; prints the bound address
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_listener.hpp"

using namespace rfarm;

Task<void> echo(StreamSocket conn) {
  for (;;) {
    auto data = co_await conn.recv_pooled();          // a buffer leased from the pool when data arrives
    if (!data || data->empty()) break;                // error, or the peer closed
    if (!co_await conn.send_all(data->bytes())) break;
  }
}

Task<void> serve(Reactor& reactor, StreamListener& listener) {
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) break;                                 // operation_canceled once the listener closes
    reactor.spawn(echo(std::move(*conn)));
  }
}

int main(int argc, char** argv) {
  auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 7000);
  auto reactor = Reactor::create().value();           // ReactorOptions{.backend = BackendKind::epoll, ...}
  auto listener = StreamListener::listen(*reactor, Address::loopback_v4(port));
  if (!listener) {
    std::fprintf(stderr, "listen: %s\n", listener.error().message().c_str());
    return 1;
  }
  std::printf("listening on %s\n", listener->local_address()->to_string().c_str());
  std::fflush(stdout);
  reactor->on_signal(SIGINT, [&](int) { reactor->stop(); });
  reactor->on_signal(SIGTERM, [&](int) { reactor->stop(); });
  reactor->spawn(serve(*reactor, *listener));
  reactor->run();
}

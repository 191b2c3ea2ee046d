#include "tools/echo_server_runtime.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "reactor/runtime/runtime.hpp"
#include "reactor/runtime/sharded_listener.hpp"
#include "tools/echo_connection.hpp"
#include "tools/echo_stream.hpp"
#include "tools/process.hpp"
#include "tools/tls_echo.hpp"

namespace rfarm::tools {

namespace {

struct Serving {
  const EchoServerOptions& options;
  const std::optional<TlsContext>& tls;
  int status = kExitSuccess;
  std::optional<ShardedListener> listener;
  // --style callback: each core's connections, made by its first one (each core writes only its own entry).
  std::vector<EchoConnections*> connections;
};

// The calling core's EchoConnections, owned by a task spawned on its reactor (keep_echo_connections).
EchoConnections& connections_of_this_core(Runtime& runtime, Serving& serving) {
  Reactor& here = this_reactor();
  unsigned core = 0;
  while (&runtime.reactor(core) != &here) ++core;
  if (serving.connections[core] == nullptr) here.spawn(keep_echo_connections(serving.connections[core]));
  return *serving.connections[core];
}

// On core 0: opens the listener on every core and prints the bound endpoint.
Task<void> start_serving(Runtime& runtime, Serving& serving) {
  const EndpointSpec& endpoint = serving.options.listen;
  ShardedListenOptions listen;
  listen.distribution = serving.options.distribution.value_or(endpoint.transport == Transport::unix_stream
                                                                  ? ConnectionDistribution::round_robin
                                                                  : ConnectionDistribution::reuseport);
  ConnectionHandler handler;
  if (serving.tls) {
    handler = [context = *serving.tls](StreamSocket conn) {
      this_reactor().spawn(tls_echo(this_reactor(), std::move(conn), context));
    };
  } else if (serving.options.style == EchoStyle::coroutine) {
    handler = [](StreamSocket conn) { this_reactor().spawn(echo_stream(std::move(conn))); };
  } else {
    serving.connections.assign(runtime.core_count(), nullptr);
    handler = [&runtime, &serving](StreamSocket conn) {
      EchoConnection::start(connections_of_this_core(runtime, serving), std::move(conn));
    };
  }
  auto listener = co_await ShardedListener::listen(runtime, endpoint.address, listen, std::move(handler));
  if (!listener) {
    serving.status = report_failure("echo-server", "listen on " + endpoint.to_string() + ": " +
                                                       listener.error().message());
    runtime.stop();
    co_return;
  }
  std::printf("%s\n", EndpointSpec{endpoint.transport, listener->local_address()}.to_string().c_str());
  std::fflush(stdout);
  this_reactor().log().info("echo-server on {} backend, {} cores, {} distribution",
                            to_string(this_reactor().backend_kind()), runtime.core_count(),
                            to_string(listener->distribution()));
  serving.listener = std::move(*listener);
}

}  // namespace

int serve_echo_on_runtime(const EchoServerOptions& options, const std::optional<TlsContext>& tls) {
  RuntimeOptions runtime_options;
  runtime_options.threads = options.threads;  // 0: one core per CPU
  runtime_options.reactor = options.reactor;
  runtime_options.workers = 1;  // the echo offloads nothing; the pool's minimum
  // SIGINT / SIGTERM stop accepting and stop at once, as the single-core path does: an echo has nothing to
  // drain, and a client's open connection must not hold the exit back.
  runtime_options.shutdown_deadline = Duration::zero();
  auto runtime = Runtime::create(runtime_options);
  if (!runtime) return report_failure("echo-server", "cannot start the runtime: " + runtime.error().message());
  Serving serving{options, tls, kExitSuccess, std::nullopt, {}};
  (*runtime)->post(0, [&] { this_reactor().spawn(start_serving(**runtime, serving)); });
  (*runtime)->run();
  return serving.status;
}

}  // namespace rfarm::tools

// echo-server: echoes every byte back; when the peer half-closes, finishes sending and closes its side.
//
//   echo-server --listen tcp:127.0.0.1:0 [--threads N] [--backend epoll|uring|auto] [--spin-us N] [--log-level LEVEL]
//   echo-server --listen udp:127.0.0.1:0 | unixpacket:/tmp/echo.sock     (datagrams / records, batched)
//   echo-server --listen tls:127.0.0.1:0 --tls-cert F --tls-key F [--tls-ca F] [--require-client-cert]
//   echo-server --help | --version
//
// The first line on stdout is the bound endpoint (tcp:127.0.0.1:40123), so scripts can start it on port 0.
// --threads N (default: one core per CPU) serves tcp:, tls: and unix: on a Runtime (echo_server_runtime.cpp);
// --threads 1 is the single-reactor path below. SIGINT / SIGTERM stop it cleanly. Exit status: 0 stopped cleanly, 1 could not serve (the port is taken, a
// TLS file cannot be used), 2 usage error (tools/cli.hpp). The command line is read in echo_server_options.cpp.
#include <cstdio>
#include <optional>
#include <string>

#include <csignal>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_listener.hpp"
#include "tools/accept_loop.hpp"
#include "tools/echo_server_dgram.hpp"
#include "tools/echo_server_options.hpp"
#include "tools/echo_server_runtime.hpp"
#include "tools/echo_connection.hpp"
#include "tools/echo_stream.hpp"
#include "tools/process.hpp"
#include "tools/tls_echo.hpp"

using namespace rfarm;

namespace {

int failed(const std::string& message) { return tools::report_failure("echo-server", message); }

}  // namespace

int main(int argc, char** argv) {
  auto options = tools::parse_echo_server_options(argc, argv);
  if (!options) return options.error();
  const EndpointSpec& endpoint = options->listen;
  const bool tls = endpoint.transport == Transport::tls;
  std::optional<TlsContext> tls_context;
  if (tls) {
    auto made = tools::make_tls_echo_context(options->tls);  // files are read before anything listens
    if (!made) return failed(made.error());
    tls_context = std::move(*made);
  }

  tools::raise_open_file_limit();  // one descriptor per connection
  if (options->threads != 1) return tools::serve_echo_on_runtime(*options, tls_context);

  auto reactor = Reactor::create(options->reactor);
  if (!reactor) return failed("cannot start the reactor: " + reactor.error().message());
  Reactor& loop = **reactor;
  // Before any endpoint line is printed: a script may send SIGTERM as soon as it has read one.
  for (int signo : {SIGINT, SIGTERM}) loop.on_signal(signo, [&](int) { loop.stop(); });
  if (tools::is_message_transport(endpoint.transport)) {  // udp: and unixpacket: (tools/echo_server_dgram.cpp)
    if (std::error_code ec = tools::start_message_echo(loop, endpoint))
      return failed("listen on " + endpoint.to_string() + ": " + ec.message());
    loop.run();
    return tools::kExitSuccess;
  }
  auto listener = StreamListener::listen(loop, endpoint.address);
  if (!listener) return failed("listen on " + endpoint.to_string() + ": " + listener.error().message());
  auto bound = listener->local_address();
  std::printf("%s\n", EndpointSpec{endpoint.transport, bound ? *bound : endpoint.address}.to_string().c_str());
  std::fflush(stdout);
  loop.log().info("echo-server on {} backend", to_string(loop.backend_kind()));
  if (tls) {
    loop.spawn(tools::tls_echo_accept_loop(loop, *listener, *tls_context));
  } else if (options->style == tools::EchoStyle::coroutine) {
    loop.spawn(tools::accept_loop(loop, *listener, tools::echo_stream));
  } else {
    tools::EchoConnections* connections = nullptr;
    loop.spawn(tools::keep_echo_connections(connections));
    loop.spawn(tools::accept_loop(loop, *listener, [connections](StreamSocket conn) {
      tools::EchoConnection::start(*connections, std::move(conn));
    }));
  }
  loop.run();
  return tools::kExitSuccess;
}

// echo-server: echoes every byte back; when the peer half-closes, finishes sending and closes its side.
//
//   echo-server --listen tcp:127.0.0.1:0 [--backend epoll|uring|auto] [--spin-us N]
//   echo-server --listen udp:127.0.0.1:0 | unixpacket:/tmp/echo.sock     (datagrams / records, batched)
//   echo-server --listen tls:127.0.0.1:0 --tls-cert F --tls-key F [--tls-ca F] [--require-client-cert]
//
// The first line on stdout is the bound endpoint (tcp:127.0.0.1:40123), so scripts can start it on port 0.
// SIGINT / SIGTERM stop it cleanly.
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <csignal>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/net/stream_listener.hpp"
#include "tools/accept_loop.hpp"
#include "tools/echo_server_dgram.hpp"
#include "tools/tls_echo.hpp"

using namespace rfarm;

namespace {

// One connection: receive into a buffer leased from the reactor's pool (an idle connection holds none),
// send it back whole, repeat until end of stream.
Task<void> echo(StreamSocket conn) {
  for (;;) {
    auto data = co_await conn.recv_pooled();
    if (!data || data->empty()) break;
    if (!co_await conn.send_all(data->bytes())) break;
  }
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "echo-server: %s\n"
               "usage: echo-server --listen tcp:HOST:PORT|unix:PATH|udp:HOST:PORT|unixpacket:PATH [--backend epoll|uring|auto] [--spin-us N]\n"
               "       echo-server --listen tls:HOST:PORT --tls-cert F --tls-key F [--tls-ca F] [--require-client-cert]\n",
               why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view listen_text;
  ReactorOptions options;
  tools::TlsEchoOptions tls_options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string_view {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (arg == "--listen") {
      listen_text = value();
    } else if (arg == "--backend") {
      auto kind = parse_backend_kind(value());
      if (!kind) usage("unknown backend");
      options.backend = *kind;
    } else if (arg == "--spin-us") {
      options.spin = std::chrono::microseconds(std::atoi(std::string(value()).c_str()));
    } else if (arg == "--tls-cert") {
      tls_options.certificate_file = value();
    } else if (arg == "--tls-key") {
      tls_options.key_file = value();
    } else if (arg == "--tls-ca") {
      tls_options.ca_file = value();
    } else if (arg == "--require-client-cert") {
      tls_options.require_client_certificate = true;
    } else if (arg == "--help" || arg == "-h") {
      usage("echoes every byte back");
    } else {
      usage("unknown argument");
    }
  }
  if (listen_text.empty()) usage("--listen is required");
  const bool tls = tools::is_tls_endpoint(listen_text);
  std::optional<TlsContext> tls_context;
  if (tls) {
    if (tls_options.require_client_certificate && tls_options.ca_file.empty())
      usage("--require-client-cert needs --tls-ca");
    auto made = tools::make_tls_echo_context(tls_options);
    if (!made) {
      std::fprintf(stderr, "echo-server: TLS: %s\n", made.error().message().c_str());
      return 1;
    }
    tls_context = std::move(*made);
  }
  auto endpoint = EndpointSpec::parse(listen_text);  // tls: is a transport of its own
  if (!endpoint) usage("bad --listen endpoint");

  auto reactor = Reactor::create(options);
  if (!reactor) {
    std::fprintf(stderr, "echo-server: cannot start the reactor: %s\n", reactor.error().message().c_str());
    return 1;
  }
  Reactor& loop = **reactor;
  // Before any endpoint line is printed: a script may send SIGTERM as soon as it has read one.
  for (int signo : {SIGINT, SIGTERM}) loop.on_signal(signo, [&](int) { loop.stop(); });
  if (tools::is_message_transport(endpoint->transport)) {  // udp: and unixpacket: (tools/echo_server_dgram.cpp)
    if (std::error_code ec = tools::start_message_echo(loop, *endpoint)) {
      std::fprintf(stderr, "echo-server: listen on %s: %s\n", std::string(listen_text).c_str(), ec.message().c_str());
      return 1;
    }
    loop.run();
    return 0;
  }
  auto listener = StreamListener::listen(loop, endpoint->address);
  if (!listener) {
    std::fprintf(stderr, "echo-server: listen on %s: %s\n", std::string(listen_text).c_str(),
                 listener.error().message().c_str());
    return 1;
  }
  auto bound = listener->local_address();
  std::string printed = EndpointSpec{endpoint->transport, bound ? *bound : endpoint->address}.to_string();
  std::printf("%s\n", printed.c_str());
  std::fflush(stdout);
  loop.log().info("echo-server on {} backend", to_string(loop.backend_kind()));
  if (tls) {
    loop.spawn(tools::tls_echo_accept_loop(loop, *listener, *tls_context));
  } else {
    loop.spawn(tools::accept_loop(loop, *listener, echo));
  }
  loop.run();
  return 0;
}

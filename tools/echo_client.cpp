// echo-client: sends messages through an echo server and checks every byte that comes back.
//
//   echo-client --connect tcp:127.0.0.1:7000 | tcp:HOST:PORT | HOST:PORT | unix:PATH [--conns 4]
//               [--messages 1000] [--size 64] [--timeout 5] [--backend epoll|uring|auto] [--spin-us N]
//   echo-client --connect tls:HOST:PORT [--tls-ca ca.pem] [--tls-cert c.pem --tls-key c.key]
//               [--insecure-skip-verify]
//   echo-client --help | --version
//
// Each connection sends a message, waits for its echo, compares it, and repeats; every connect, handshake,
// round trip and the close must finish within --timeout seconds. Prints what it verified and the round-trip
// percentiles. Exit status: 0 everything echoed intact, 1 a connection failed or timed out (one line on
// stderr says why; no percentiles when nothing was measured), 2 usage error (tools/cli.hpp). Load generation
// for benchmarks is bench/echo_load, which deliberately does not depend on this library.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reactor/dns/resolver.hpp"
#include "reactor/loop/reactor.hpp"
#include "tools/echo_client_options.hpp"
#include "tools/echo_client_session.hpp"
#include "tools/process.hpp"

using namespace rfarm;
using std::chrono::steady_clock;

namespace {

double percentile(std::vector<double>& v, double p) {
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

int failed(const std::string& message) { return tools::report_failure("echo-client", message); }

}  // namespace

int main(int argc, char** argv) {
  auto options = tools::parse_echo_client_options(argc, argv);
  if (!options) return options.error();
  const std::string target = options->connect.to_string();

  std::optional<TlsContext> tls;
  if (options->connect.transport == Transport::tls) {
    TlsContextOptions base;
    if (options->insecure_skip_verify) base.verify = TlsVerify::none;
    auto made = tools::make_tls_context(tools::TlsRole::client, options->tls, base);
    if (!made) return failed(made.error());
    tls = std::move(*made);
  }
  auto reactor = Reactor::create(options->reactor);
  if (!reactor) return failed("cannot start the reactor: " + reactor.error().message());
  std::unique_ptr<Resolver> resolver;
  if (options->connect.has_host_name()) {
    auto created = Resolver::create(**reactor);
    if (!created) return failed("cannot start the resolver: " + created.error().message());
    resolver = std::move(*created);
  }

  auto start = steady_clock::now();
  tools::EchoOutcome out = tools::run_echo_connections(**reactor, resolver.get(), *options, tls ? &*tls : nullptr);
  double seconds = std::chrono::duration<double>(steady_clock::now() - start).count();

  int conns = options->conns;
  if (out.round_trips_us.empty()) {  // nothing measured: no figures, only what went wrong
    std::string all = conns > 1 ? " (all " + std::to_string(conns) + " connections failed)" : "";
    return failed(target + ": " + out.first_error + all);
  }
  std::printf(
      "echo-client: %zu of %d messages of %zu bytes echoed intact over %d connection(s) in %.2f s (%s backend)\n",
      out.round_trips_us.size(), conns * options->messages, options->size, conns, seconds,
      std::string(to_string((*reactor)->backend_kind())).c_str());
  std::printf("echo-client: round trip p50 %.1f us, p99 %.1f us\n", percentile(out.round_trips_us, 0.50),
              percentile(out.round_trips_us, 0.99));
  std::fflush(stdout);
  if (out.failed_connections > 0)
    return failed(std::to_string(out.failed_connections) + " of " + std::to_string(conns) +
                  " connection(s) failed; first: " + target + ": " + out.first_error);
  return tools::kExitSuccess;
}

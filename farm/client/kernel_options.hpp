// KernelOptions: what a Kernel connects to and how obstinately.
//
//     KernelOptions options;
//     options.servers = {"tcp:127.0.0.1:7000", "unix:/run/farm.sock", "farm.internal:7000", "tls:farm.example:7443"};
//     options.tls = {.ca_file = "ca.pem", .certificate_file = "me.pem", .key_file = "me.key"};   // for tls:
//     options.window = 256;                          // tasks in flight per connection, at most
//     options.max_unsent = 10000;                    // tasks waiting for a server, at most: submit blocks above
//     options.default_policy.fail_after = 30s;      // else: retry forever (at-least-once)
//     auto kernel = Kernel::start(options);
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "farm/client/farm_stream.hpp"
#include "farm/client/task_record.hpp"
#include "lib/log.hpp"
#include "reactor/backend/backend_kind.hpp"
#include "reactor/dns/resolver.hpp"

namespace rfarm::farm {

using namespace std::chrono_literals;

// Reconnection delays: initial, doubling up to max, each drawn at random from [d/2, d] ("equal jitter") so that
// clients that lost the same server do not come back in step.
struct BackoffPolicy {
  Duration initial = 20ms;
  Duration max = 2s;
};

struct KernelOptions {
  // EndpointSpec text (reactor/net/endpoint.hpp): tcp:HOST:PORT, bare HOST:PORT, tls:HOST:PORT, unix:PATH. A
  // host name is a group of servers (server_group.hpp): every address it resolves to gets its own connection,
  // and the name is looked up again every resolve_interval, so servers may join and leave while the kernel runs.
  std::vector<std::string> servers;
  // How often a host name is looked up again (zero: only until its first answer). A failed lookup keeps the
  // servers last known.
  Duration resolve_interval = 30s;
  // Which addresses of a name count: both families by default. A server reachable on an IPv4 and an IPv6
  // address of the same name is two servers to the kernel (a broadcast runs there twice): name one family then.
  AddressFamily resolve_family = AddressFamily::unspecified;
  // The resolver's configuration (default: /etc/resolv.conf and /etc/hosts); tests name their own DNS server.
  ResolverOptions resolver{};
  // For tls: servers (mutual TLS): the CA their certificates come from, our certificate and key (the subject
  // their --allow-subject lists), the name their certificates must carry (default: each spec's host).
  FarmTlsOptions tls{};
  // Tasks in flight per connection, at most (the balancer's window).
  std::size_t window = 512;
  // Backpressure: tasks handed to the kernel and not yet sent to any server, at most. Submitting blocks above it
  // (Kernel::try_submit_one / Channel::try_submit fail instead), so a producer that outruns the farm waits rather
  // than growing the kernel's memory. Tasks in flight on servers are bounded by window, not by this.
  std::size_t max_unsent = 16384;
  Duration connect_timeout = 3s;  // the TCP connect and the handshake, each
  BackoffPolicy backoff{};
  // Failure detector: a connection silent this long is pinged; one with tasks or a ping outstanding and silent
  // for heartbeat_timeout is declared dead (a frozen server: SIGSTOP), closed, and its tasks move elsewhere.
  Duration heartbeat_interval = 500ms;
  Duration heartbeat_timeout = 3s;
  // Applies to every task submitted without a policy of its own.
  TaskPolicy default_policy{};
  std::string client_name = "rfarm-kernel";
  std::string auth_token;  // Hello.auth_token, for a server started with a token
  // The engine's reactor (Kernel::start).
  BackendKind backend = BackendKind::automatic;
  std::chrono::microseconds spin{0};
  std::optional<LogLevel> log_level{};
  // Blocking calls that wait for every server (broadcast, load_module) give up after this.
  Duration call_timeout = 60s;
};

}  // namespace rfarm::farm

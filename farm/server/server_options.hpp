// What a FarmServer is made with: its limits, its TLS and Unix-socket security, its tasks and modules.
//
//     FarmServerOptions options;
//     options.limits.max_tasks_in_flight = 256;                  // per connection: stop reading above it
//     options.allowed_subjects = {"CN=farm client,O=rfarm"};     // tls: listeners (RFC 2253 subject text)
//     options.register_tasks = [](TaskRegistry& r) { return r.add("twice", [](std::int64_t x) { return 2 * x; }); };
//     auto server = FarmServer::create(*runtime, std::move(options));
//
// Every field has a default a server can run with; tools/farm-server maps its command line onto them.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "farm/error.hpp"
#include "farm/protocol/frame_decoder.hpp"
#include "farm/tasks/task_registry.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/tls/tls_context.hpp"

namespace rfarm::farm {

// Bounds on what one client connection may hold on the server (a client cannot grow the server without bound).
struct ConnectionLimits {
  // Tasks of one connection running or queued for a worker; above it the server stops reading that
  // connection until one finishes (the client's frames wait in the socket buffers: TCP flow control).
  std::size_t max_tasks_in_flight = 1024;
  // Encoded answers waiting for the client to read them; above it the server stops reading the connection,
  // and if nothing drains within write_stall_timeout the connection is closed (a client that never reads).
  std::size_t max_queued_output = std::size_t{4} << 20;
  Duration write_stall_timeout = std::chrono::seconds(10);
  // From accept to the end of the Hello / Welcome exchange (TLS handshake included).
  Duration handshake_timeout = std::chrono::seconds(10);
  // A connection with no task in flight and no frame received for this long is closed; 0: never. A Kernel
  // pings idle connections (its failure detector), so this only ends connections whose client is gone.
  Duration idle_timeout = std::chrono::minutes(5);
};

struct FarmServerOptions {
  // Welcome.server_version and info's "version".
  std::string version = "0";
  // Frame size and verification limits (FrameLimits::max_frame_size is announced in Welcome).
  FrameLimits frames{};
  ConnectionLimits limits{};
  // Run tasks registered as may_run_inline on the connection's reactor instead of a worker thread.
  bool inline_tasks = true;

  // tls: listeners: the server's context. It should require client certificates (TlsVerify::require_peer with
  // the CA that signs them); a client is then admitted only if its certificate's subject (RFC 2253 text,
  // "CN=client,O=rfarm") is in allowed_subjects, or allow_any_subject is set.
  std::optional<TlsContext> tls{};
  std::vector<std::string> allowed_subjects{};
  bool allow_any_subject = false;

  // unix: listeners: the socket file's mode, and the peer uids admitted (SO_PEERCRED); empty: any peer that
  // can open the socket file.
  unsigned socket_mode = 0600;
  std::vector<uid_t> allowed_uids{};

  // Task modules: loaded at start (farm-server --module), and shipped by authenticated clients when
  // accept_modules is set. module_dir is the ModuleStore's directory (created 0700); empty: a private
  // directory under $XDG_RUNTIME_DIR or /tmp, made for this process.
  std::vector<std::string> modules{};
  bool accept_modules = false;
  std::string module_dir{};

  // The embedding program's own tasks, added after the built-ins.
  std::function<FarmResult<void>(TaskRegistry&)> register_tasks{};
};

}  // namespace rfarm::farm

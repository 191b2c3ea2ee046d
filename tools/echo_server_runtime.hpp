// echo-server on several cores (--threads N, N != 1): a Runtime with one reactor per core and a ShardedListener
// spreading the connections over them (tcp: and tls: through SO_REUSEPORT, one accept queue per core; unix:
// through one acceptor handing connections round robin, since a second socket on the path would replace the
// first). Each connection is served start to end on the core that received it.
#pragma once

#include <optional>

#include "reactor/tls/tls_context.hpp"
#include "tools/echo_server_options.hpp"

namespace rfarm::tools {

// Serves options.listen until SIGINT or SIGTERM; returns the exit status. Prints the bound endpoint first.
int serve_echo_on_runtime(const EchoServerOptions& options, const std::optional<TlsContext>& tls);

}  // namespace rfarm::tools

// echo-client's connections: connect (to an address, or to every address of a name), add TLS for tls:
// endpoints, send messages one at a time and check each echo, then close. Every step is bounded by the
// --timeout: a connect, a TLS handshake, each round trip, and the close.
#pragma once

#include <string>
#include <vector>

#include "reactor/dns/resolver.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/tls/tls_context.hpp"
#include "tools/echo_client_options.hpp"

namespace rfarm::tools {

struct EchoOutcome {
  std::vector<double> round_trips_us;  // one per message echoed intact
  int failed_connections = 0;
  std::string first_error;  // what went wrong first, e.g. "connect: Connection refused"
};

// Runs options.conns connections at once until every one has finished (the loop is stopped then).
// resolver is needed when options.connect names a host; tls when it is a tls: endpoint.
EchoOutcome run_echo_connections(Reactor& reactor, Resolver* resolver, const EchoClientOptions& options,
                                 const TlsContext* tls);

}  // namespace rfarm::tools

// The accept loop every connection-oriented echo mode shares (tcp, unix, tls, unixpacket).
#pragma once

#include <system_error>
#include <type_traits>
#include <utility>

#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"

namespace rfarm::tools {

// Accepts until the listener is closed. serve(connection) either makes the Task<void> that handles one
// connection, which runs as its own spawned task, or (returning void) starts a callback-style connection
// itself. A failed accept (a connection reset before it was taken, EMFILE after the
// listener's back-off) is logged and the loop goes on.
template <class Listener, class Serve>
Task<void> accept_loop(Reactor& reactor, Listener& listener, Serve serve) {
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) {
      if (conn.error() == std::errc::operation_canceled) break;
      reactor.log().warn("accept: {}", conn.error().message());
      continue;
    }
    if constexpr (std::is_void_v<decltype(serve(std::move(*conn)))>) {
      serve(std::move(*conn));
    } else {
      reactor.spawn(serve(std::move(*conn)));
    }
  }
}

}  // namespace rfarm::tools

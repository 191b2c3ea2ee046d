// The per-connection echo of echo-server's stream listeners (tcp:, unix:), shared by the single-reactor loop
// (echo_server.cpp) and the runtime's cores (echo_server_runtime.cpp).
#pragma once

#include "lib/task.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm::tools {

// Receives into a buffer leased from the reactor's pool (an idle connection holds none), sends it back whole,
// repeats until end of stream.
inline Task<void> echo_stream(StreamSocket conn) {
  for (;;) {
    auto data = co_await conn.recv_pooled();
    if (!data || data->empty()) break;
    if (!co_await conn.send_all(data->bytes())) break;
  }
}

}  // namespace rfarm::tools

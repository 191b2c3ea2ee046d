// echo-server's callback-style stream connection (--style callback, the default): a two-state machine over one
// caller-owned operation (StreamSocket::PooledExchangeOperation) that receives into a leased buffer and sends
// that same buffer back. The receive stands armed (start_receiving, libuv's read_start) while each message goes
// back whole at once, so a steady connection starts nothing per message; a send that must wait stops it. An idle connection is this object (104 bytes) and its socket's state, and nothing
// else: no receive buffer (the receive leases one only when data arrives, the send gives it back), no
// coroutine frame, and nothing rebuilt per message. The coroutine style (tools/echo_stream.hpp) does the same in
// a spawned Task.
#pragma once

#include <coroutine>
#include <cstdint>
#include <vector>

#include "lib/task.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm::tools {

class EchoConnections;

class EchoConnection final : StreamSocket::PooledExchangeOperation<EchoConnection> {
 public:
  // Echoes on socket until end of stream or an error; owned by connections until then.
  static void start(EchoConnections& connections, StreamSocket socket);

  EchoConnection(const EchoConnection&) = delete;
  EchoConnection& operator=(const EchoConnection&) = delete;
  // Closes the socket (a pending operation completes with operation_canceled into the completion queue), then
  // the operation, a base, goes: that abandons it there, so no callback runs.
  ~EchoConnection() = default;

 private:
  friend class EchoConnections;
  friend class detail::PooledExchange<EchoConnection>;

  // The operation's kind is the state: receiving (an idle connection waits here, armed) or sending the data
  // back (only while the socket is full; a send taken at once happens inside the received event).
  enum class Event : std::uint8_t { received, sent, ended };

  EchoConnection(EchoConnections& connections, StreamSocket socket) noexcept;

  // Called by the operation (PooledExchange).
  void on_received(std::error_code ec) noexcept { handle(received_event(ec)); }
  void on_sent(std::error_code ec) noexcept { handle(ec ? Event::ended : Event::sent); }
  Event received_event(std::error_code ec) noexcept { return ec || buffer().empty() ? Event::ended : Event::received; }
  // The one transition function: every path of the connection is here.
  void handle(Event event) noexcept;

  StreamSocket socket_;
  EchoConnections* connections_;
  std::uint32_t slot_ = 0;  // index in connections_
};

// The open connections of one reactor. Destroying it destroys them (their sockets close); it must go before
// the reactor does: keep_echo_connections below ties it to the reactor's lifetime.
class EchoConnections {
 public:
  EchoConnections() = default;
  EchoConnections(const EchoConnections&) = delete;
  EchoConnections& operator=(const EchoConnections&) = delete;
  ~EchoConnections();

  std::size_t size() const noexcept { return open_.size(); }

 private:
  friend class EchoConnection;
  void add(EchoConnection& connection);
  void remove(EchoConnection& connection) noexcept;

  std::vector<EchoConnection*> open_;  // 8 bytes per connection; each knows its index
};

// A spawned task that owns a reactor's EchoConnections and never resumes: the reactor destroys it with its
// other suspended frames, while the backend still exists (reactor.hpp), which closes the connections.
//     EchoConnections* connections = nullptr;
//     reactor.spawn(keep_echo_connections(connections));   // *connections lives until the reactor goes
inline Task<void> keep_echo_connections(EchoConnections*& out) {
  EchoConnections connections;
  out = &connections;
  co_await std::suspend_always{};
}

}  // namespace rfarm::tools

// echo-server's callback-style stream connection (--style callback, the default): a two-state machine over
// caller-owned operations (StreamSocket::RecvPooledOperation / SendPooledOperation), holding one at a time.
// An idle connection is this object (136 bytes) and its socket's state, and nothing else: no receive buffer
// (recv_pooled leases one only when data arrives, the send gives it back), no coroutine frame.
// The coroutine style (tools/echo_stream.hpp) does the same in a spawned Task.
#pragma once

#include <coroutine>
#include <cstdint>
#include <vector>

#include "lib/task.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm::tools {

class EchoConnections;

class EchoConnection {
 public:
  // Echoes on socket until end of stream or an error; owned by connections until then.
  static void start(EchoConnections& connections, StreamSocket socket);

  EchoConnection(const EchoConnection&) = delete;
  EchoConnection& operator=(const EchoConnection&) = delete;
  ~EchoConnection();

 private:
  friend class EchoConnections;

  // receiving: a receive is pending (an idle connection waits here); sending: the data goes back.
  enum class State : std::uint8_t { receiving, sending };
  enum class Event : std::uint8_t { received, sent, ended };

  struct Input {
    Event event;
    PooledBuffer data;  // received: the bytes to send back
  };

  EchoConnection(EchoConnections& connections, StreamSocket socket) noexcept;

  static Input received_event(Result<PooledBuffer> data) noexcept;
  static void on_received(void* self, Result<PooledBuffer> data) noexcept;
  static void on_sent(void* self, Result<std::size_t> sent) noexcept;
  // The one transition function: every path of the connection is here.
  void handle(Input input) noexcept;

  using RecvOp = StreamSocket::RecvPooledOperation<&EchoConnection::on_received>;
  using SendOp = StreamSocket::SendPooledOperation<&EchoConnection::on_sent>;

  StreamSocket socket_;
  // One operation at a time: the receive while receiving, the send while sending (state_ says which lives).
  union {
    RecvOp recv_;
    SendOp send_;
  };
  EchoConnections* connections_;
  std::uint32_t slot_ = 0;  // index in connections_
  State state_ = State::receiving;
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

#include "tools/echo_connection.hpp"

#include <memory>
#include <utility>

namespace rfarm::tools {

void EchoConnection::start(EchoConnections& connections, StreamSocket socket) {
  std::unique_ptr<EchoConnection> connection(new EchoConnection(connections, std::move(socket)));
  connections.add(*connection);
  EchoConnection* started = connection.release();
  started->handle(Event::sent);  // as after a send: start receiving
}

// What an idle connection costs besides its socket's state: malloc serves 104 bytes from a 112-byte chunk.
static_assert(sizeof(EchoConnection) <= 104, "an idle echo connection grew past its 112-byte heap chunk");

EchoConnection::EchoConnection(EchoConnections& connections, StreamSocket socket) noexcept
    : socket_(std::move(socket)), connections_(&connections) {}

// The one transition function. An operation that finishes at once gives its event here directly, so this loops
// (not recursing) until the operation waits. It runs from the operation's callback, which may destroy it.
void EchoConnection::handle(Event event) noexcept {
  for (;;) {
    switch (event) {
      case Event::received:  // receiving -> sending: the bytes go back whole, from the buffer they came in
        if (!send(socket_)) return;  // waits for room: the receive stopped (backpressure) until on_sent
        if (take_error()) {
          event = Event::ended;
        } else if (receiving()) {
          return;  // sent at once, and the receive stands armed: the next message comes by callback
        } else {
          event = Event::sent;
        }
        break;
      case Event::sent:  // sending -> receiving (the send gave its buffer back)
        if (!start_receiving(socket_)) return;
        event = received_event(take_error());  // data was already there: handled, then armed again
        break;
      case Event::ended:  // either state: the peer closed or the socket failed
        connections_->remove(*this);
        delete this;
        return;
    }
  }
}

void EchoConnections::add(EchoConnection& connection) {
  connection.slot_ = static_cast<std::uint32_t>(open_.size());
  open_.push_back(&connection);
}

// Swap-remove: the last connection takes the slot and learns its new index.
void EchoConnections::remove(EchoConnection& connection) noexcept {
  EchoConnection* last = open_.back();
  open_.pop_back();
  if (last != &connection) {
    open_[connection.slot_] = last;
    last->slot_ = connection.slot_;
  }
}

EchoConnections::~EchoConnections() {
  while (!open_.empty()) {
    EchoConnection* connection = open_.back();
    open_.pop_back();
    delete connection;
  }
}

}  // namespace rfarm::tools

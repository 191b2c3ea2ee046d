#include "tools/echo_connection.hpp"

#include <memory>
#include <utility>

namespace rfarm::tools {

void EchoConnection::start(EchoConnections& connections, StreamSocket socket) {
  std::unique_ptr<EchoConnection> connection(new EchoConnection(connections, std::move(socket)));
  connections.add(*connection);
  EchoConnection* started = connection.release();
  if (started->recv_.start(started->socket_)) started->handle(received_event(started->recv_.take_result()));
}

// What an idle connection costs besides its socket's state: malloc serves 136 bytes from a 144-byte chunk.
static_assert(sizeof(EchoConnection) <= 136, "an idle echo connection grew past its 144-byte heap chunk");

EchoConnection::EchoConnection(EchoConnections& connections, StreamSocket socket) noexcept
    : socket_(std::move(socket)), recv_(this), connections_(&connections) {}

// The live operation first (abandoned if it is pending), then the socket.
EchoConnection::~EchoConnection() {
  if (state_ == State::receiving) {
    std::destroy_at(&recv_);
  } else {
    std::destroy_at(&send_);
  }
}

EchoConnection::Input EchoConnection::received_event(Result<PooledBuffer> data) noexcept {
  if (!data || data->empty()) return {Event::ended, {}};  // end of stream or an error
  return {Event::received, std::move(*data)};
}

void EchoConnection::on_received(void* self, Result<PooledBuffer> data) noexcept {
  static_cast<EchoConnection*>(self)->handle(received_event(std::move(data)));
}

void EchoConnection::on_sent(void* self, Result<std::size_t> sent) noexcept {
  static_cast<EchoConnection*>(self)->handle({sent ? Event::sent : Event::ended, {}});
}

// The one transition function. An operation that finishes at once gives its event here directly, so this loops
// (not recursing) until an operation waits. It runs from the callback of the operation it replaces:
// OwnedOperation lets a callback destroy its operation.
void EchoConnection::handle(Input input) noexcept {
  for (;;) {
    switch (input.event) {
      case Event::received:  // receiving -> sending: the bytes go back whole
        std::destroy_at(&recv_);
        std::construct_at(&send_, this);
        state_ = State::sending;
        if (!send_.start(socket_, std::move(input.data))) return;
        input = {send_.take_result() ? Event::sent : Event::ended, {}};
        break;
      case Event::sent:  // sending -> receiving (the send gave its buffer back)
        std::destroy_at(&send_);
        std::construct_at(&recv_, this);
        state_ = State::receiving;
        if (!recv_.start(socket_)) return;
        input = received_event(recv_.take_result());
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

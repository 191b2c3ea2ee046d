#include "reactor/net/stream_listener.hpp"

#include <climits>

namespace rfarm {
namespace detail {

namespace {
constexpr int kRetryAfterBackoff = INT_MIN;  // op.result marker: the back-off timer asks for another try
constexpr Duration kFirstBackoff = std::chrono::milliseconds(10);
constexpr Duration kMaxBackoff = std::chrono::seconds(1);

bool is_resource_exhaustion(int result) noexcept {
  return result == -EMFILE || result == -ENFILE || result == -ENOBUFS || result == -ENOMEM;
}
}  // namespace

AcceptLogic::~AcceptLogic() {
  // A parked accept has a live listener (closing it unparks us first); any other may outlive it.
  if (parked) {
    listener->backing_off = nullptr;
    listener->reactor->remove_timer(*this);
  }
}

void AcceptLogic::prepare(MsgOp& op) noexcept {
  self = &op;
  listener = static_cast<ListenerState*>(op.handle);
  op.msg.msg_name = nullptr;  // the peer address is there to ask for (remote_address()) when wanted
  op.msg.msg_namelen = 0;
}

Step AcceptLogic::advance(MsgOp& op) noexcept {
  if (op.result == kRetryAfterBackoff) return Step::again;
  if (op.result == -ECONNABORTED) return Step::again;  // the peer gave up while queued: take the next one
  if (is_resource_exhaustion(op.result)) {
    ListenerState& l = *listener;
    if (l.backoff.count() == 0) {
      ++l.backoff_episodes;
      l.reactor->log().warn("accept on fd {}: {}; backing off and retrying", l.fd, op_error(op).message());
      l.backoff = kFirstBackoff;
    } else {
      l.backoff = std::min(l.backoff * 2, kMaxBackoff);
    }
    parked = true;
    l.backing_off = this;
    l.reactor->add_timer(*this, l.backoff);
    return Step::wait;
  }
  if (op.result >= 0 && listener->backoff.count() != 0) {
    listener->reactor->log().info("accept on fd {} recovered", listener->fd);
    listener->backoff = Duration(0);
  }
  return Step::done;
}

Result<StreamSocket> AcceptLogic::finish(MsgOp& op) noexcept {
  if (op.result < 0) return fail(op_error(op));
  StreamSocket sock = StreamSocket::adopt(*listener->reactor, op.result);
  if (listener->tcp && listener->nodelay) sock.set_nodelay(true);
  return sock;
}

void AcceptLogic::on_backoff_expired(TimerNode& node) noexcept {
  auto& logic = static_cast<AcceptLogic&>(node);
  logic.parked = false;
  logic.listener->backing_off = nullptr;
  logic.self->result = kRetryAfterBackoff;
  logic.self->complete(*logic.self);
}

void ListenerState::before_close() noexcept {
  if (AcceptLogic* parked = std::exchange(backing_off, nullptr)) {
    parked->parked = false;
    reactor->remove_timer(*parked);
    IoOp& op = *parked->self;
    op.result = -ECANCELED;
    op.pending = true;
    op.backend = &reactor->backend();
    reactor->completions().push(op);
  }
}

}  // namespace detail

Result<StreamListener> StreamListener::listen(Reactor& reactor, const Address& address, const ListenOptions& options) {
  auto fd = open_socket_fd(address.native_family(), SOCK_STREAM);
  if (!fd) return fail(fd.error());
  auto state = std::make_unique<detail::ListenerState>(reactor, *fd, true);
  state->nodelay = options.nodelay;
  state->tcp = address.is_ip();
  StreamListener listener(std::move(state));
  if (std::error_code ec = listen_socket(listener, address, options)) return fail(ec);
  return listener;
}

void StreamListener::async_accept(AcceptHandler handler) {
  auto& op = listener_state().accept;
  if (op.busy()) {
    decltype(listener_state().accept)::refuse(reactor(), std::move(handler));
    return;
  }
  op.launch(state(), std::move(handler));
}

}  // namespace rfarm

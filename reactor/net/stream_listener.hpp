// StreamListener: a listening stream socket (TCP over IPv4 / IPv6, or Unix-domain) that accepts StreamSockets.
//
//     auto listener = rfarm::StreamListener::listen(reactor, rfarm::Address::loopback_v4(0)).value();
//     for (;;) {
//       auto conn = co_await listener.accept();     // Result<StreamSocket>
//       if (!conn) break;                           // operation_canceled once the listener is closed
//       reactor.spawn(serve(std::move(*conn)));
//     }
//
// A Unix path is bound as bind.hpp describes: a stale socket file is replaced, a live one or any other file
// refused (Errc::unix_path_in_use / unix_path_not_socket), and the listener removes its file when it closes.
//
// Running out of descriptors (EMFILE / ENFILE) or kernel memory does not fail the accept and does not spin
// the loop: the listener backs off (10 ms doubling to 1 s), logs once per episode, and retries, so the
// connections waiting in the backlog are served as soon as descriptors free up.
#pragma once

#include "reactor/net/bind.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm {

namespace detail {

struct ListenerState;

struct AcceptLogic : TimerNode {
  static constexpr OpKind kind = OpKind::accept;
  using result_type = Result<StreamSocket>;

  AcceptLogic() noexcept : TimerNode(&AcceptLogic::on_backoff_expired) {}
  ~AcceptLogic();

  void prepare(MsgOp& op) noexcept;
  Step advance(MsgOp& op) noexcept;
  result_type finish(MsgOp& op) noexcept;
  static void on_backoff_expired(TimerNode& node) noexcept;

  IoOp* self = nullptr;
  ListenerState* listener = nullptr;  // dereferenced only while parked: the listener may be gone otherwise
  bool parked = false;                // waiting on the back-off timer, outside the backend
};

struct ListenerState : SocketState {  // SeqPacketListener extends it (seqpacket_socket.hpp)
  using SocketState::SocketState;
  void before_close() noexcept override;
  HandleKind handle_kind() const noexcept override { return HandleKind::listener; }

  bool nodelay = true;
  bool tcp = true;
  Duration backoff{0};            // current EMFILE back-off; zero when not backing off
  AcceptLogic* backing_off = nullptr;  // the accept parked on its back-off timer
  std::uint64_t backoff_episodes = 0;
  HandlerOperation<AcceptLogic> accept;
};

}  // namespace detail

class StreamListener : public Socket {
 public:
  StreamListener() noexcept = default;

  static Result<StreamListener> listen(Reactor& reactor, const Address& address, const ListenOptions& options = {});

  using AcceptAwaitable = detail::OperationAwaitable<detail::AcceptLogic>;
  using AcceptHandler = detail::HandlerOperation<detail::AcceptLogic>::Handler;

  AcceptAwaitable accept() noexcept { return AcceptAwaitable(state()); }
  void async_accept(AcceptHandler handler);

  // How many times accepting hit the descriptor limit and backed off.
  std::uint64_t backoff_episodes() const noexcept { return listener_state().backoff_episodes; }

 private:
  explicit StreamListener(std::unique_ptr<detail::ListenerState> state) noexcept : Socket(std::move(state)) {}
  detail::ListenerState& listener_state() const noexcept { return static_cast<detail::ListenerState&>(*state_); }
};

}  // namespace rfarm

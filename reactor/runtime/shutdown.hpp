// Graceful shutdown: what each core stops, drains and closes when Runtime::shutdown(deadline) runs.
//
// A core keeps two lists: things that accept new work (listeners) and live connections. Code registers in
// them with guards that live as long as the thing they describe:
//
//     Task<void> accept_loop(StreamListener listener) {
//       AcceptorGuard acceptor([&] { listener.close(); });   // shutdown closes it: accept() is cancelled
//       while (auto conn = co_await listener.accept()) this_reactor().spawn(serve(std::move(*conn)));
//     }
//     Task<void> serve(StreamSocket conn) {
//       ConnectionGuard live(conn);                           // closed at the deadline if still open
//       while (!live.draining()) { ... one request ... }      // or: finish what the peer sends, then return
//     }
//
// On shutdown each core: (1) stops every acceptor (calls its function once), (2) marks every connection
// draining (draining() turns true; an on_drain function runs once), (3) waits until its connections are gone
// or the deadline passes, then (4) closes those left (their function, by default Socket::close(), which
// cancels their pending operations). When every core has got there the runtime stops all of them.
//
// Outside a runtime core the guards register nowhere and never fire, so the same code runs on a lone Reactor.
#pragma once

#include <cstddef>
#include <functional>

#include "lib/inplace_function.hpp"
#include "lib/intrusive_list.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/socket.hpp"

namespace rfarm {

namespace detail {
class ShutdownRegistry;
}

// Something that accepts new work; stop_accepting runs once when shutdown begins (after that the guard is
// inert). Not movable: embed it where the listener lives (a coroutine frame, a server object).
class AcceptorGuard : private ListHook {
 public:
  explicit AcceptorGuard(InplaceFunction<void()> stop_accepting);
  AcceptorGuard(const AcceptorGuard&) = delete;
  AcceptorGuard& operator=(const AcceptorGuard&) = delete;
  ~AcceptorGuard();

 private:
  friend class detail::ShutdownRegistry;
  friend class IntrusiveList<AcceptorGuard>;
  detail::ShutdownRegistry* registry_ = nullptr;
  InplaceFunction<void()> stop_accepting_;
};

// A live connection. close_now runs at the deadline if the connection is still registered; the Socket&
// form closes that socket. on_drain (optional) runs once when shutdown begins, e.g. to stop reading new
// requests. Not movable: embed it in the connection's coroutine frame or object.
class ConnectionGuard : private ListHook {
 public:
  explicit ConnectionGuard(Socket& socket) : ConnectionGuard([s = &socket] { s->close(); }) {}
  explicit ConnectionGuard(InplaceFunction<void()> close_now);
  ConnectionGuard(const ConnectionGuard&) = delete;
  ConnectionGuard& operator=(const ConnectionGuard&) = delete;
  ~ConnectionGuard();

  // True once shutdown has begun on this core: finish the request in hand, accept no new one.
  bool draining() const noexcept;
  void on_drain(InplaceFunction<void()> fn) { on_drain_ = std::move(fn); }

 private:
  friend class detail::ShutdownRegistry;
  friend class IntrusiveList<ConnectionGuard>;
  detail::ShutdownRegistry* registry_ = nullptr;
  bool draining_ = false;
  InplaceFunction<void()> close_now_;
  InplaceFunction<void()> on_drain_;
};

namespace detail {

// One per core (core-local). The runtime drives it; guards register with the current core's.
class ShutdownRegistry {
 public:
  // serving → draining (acceptors stopped, waiting for connections) → closing (deadline: closing the rest)
  // → done (this core has drained; reported once). reset() goes back to serving for a restarted runtime.
  enum class Phase : std::uint8_t { serving, draining, closing, done };

  explicit ShutdownRegistry(Reactor& reactor) noexcept : reactor_(reactor), deadline_timer_(reactor) {}
  ShutdownRegistry(const ShutdownRegistry&) = delete;
  ShutdownRegistry& operator=(const ShutdownRegistry&) = delete;
  ~ShutdownRegistry();

  // Starts the drain on this core; on_done runs once, on this core, when the core has drained or closed
  // what was left at the deadline.
  void begin(Clock::time_point deadline, std::function<void()> on_done);
  void reset() noexcept;

  Phase phase() const noexcept { return phase_; }
  std::size_t connections() const noexcept { return connection_count_; }
  std::size_t acceptors() const noexcept { return acceptor_count_; }

 private:
  friend class rfarm::AcceptorGuard;
  friend class rfarm::ConnectionGuard;

  void add(AcceptorGuard& a) noexcept;
  void remove(AcceptorGuard& a) noexcept;
  void add(ConnectionGuard& c) noexcept;
  void remove(ConnectionGuard& c) noexcept;
  // The one transition function: every phase change goes through here, with its entry actions.
  void enter(Phase next) noexcept;
  static void finish_after_closing(TurnHook& hook) noexcept;

  Reactor& reactor_;
  Phase phase_ = Phase::serving;
  IntrusiveList<AcceptorGuard> acceptors_;
  IntrusiveList<ConnectionGuard> connections_;
  std::size_t acceptor_count_ = 0;
  std::size_t connection_count_ = 0;
  Clock::time_point deadline_{};
  Timer deadline_timer_;
  std::function<void()> on_done_;
  struct FinishHook : TurnHook {
    explicit FinishHook(ShutdownRegistry& r) noexcept : TurnHook(&ShutdownRegistry::finish_after_closing), registry(r) {}
    ShutdownRegistry& registry;
  } finish_hook_{*this};
};

}  // namespace detail
}  // namespace rfarm

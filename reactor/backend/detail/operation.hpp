// The two shells every socket operation comes in, built from one "logic" class per operation:
//
//   OperationAwaitable<Logic>  lives in a coroutine frame:   auto n = co_await sock.recv(buf);
//   HandlerOperation<Logic>    lives in the socket's state:  sock.async_recv(buf, [](Result<size_t>) {...});
//
// A Logic supplies
//   static constexpr detail::OpKind kind;
//   using op_type = ...;                  // optional: the IoOp struct kind names (io_op.hpp); MsgOp if absent
//   using result_type = ...;
//   Step advance(IoOp& op) noexcept;      // after each completion: done, again (restart now), wait (the
//                                         // logic re-arms itself later and then calls op.complete(op))
//   result_type finish(IoOp& op) noexcept;
// and optionally
//   bool attempt(IoOp& op) noexcept;      // tried before each start: performs the work directly (a syscall
//                                         // the seam lacks, e.g. recvmmsg); true when finished (op.result
//                                         // set), false to wait for the backend op (readiness) and advance
//
// Composed operations (send_all, recv_exactly, accept with EMFILE back-off, connect with a timeout) are just
// logics whose advance() says "again" or "wait" until they are done. A handler never runs inside the call that
// started its operation; an awaitable that completes at once does not suspend at all.
//
// Not API (detail/): installed because the sockets' public operation templates include it.
#pragma once

#include <cassert>
#include <coroutine>
#include <type_traits>

#include "lib/inplace_function.hpp"
#include "reactor/backend/detail/backend.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/socket.hpp"

namespace rfarm::detail {

enum class Step : std::uint8_t { done, again, wait };

inline std::error_code op_error(const IoOp& op) noexcept { return errno_code(-op.result); }

// The operation struct a logic's shell derives from: Logic::op_type, or MsgOp (the general message operation).
template <class Logic>
struct OpTypeOf {
  using type = MsgOp;
};
template <class Logic>
  requires requires { typename Logic::op_type; }
struct OpTypeOf<Logic> {
  using type = typename Logic::op_type;
};
template <class Logic>
using op_type_t = typename OpTypeOf<Logic>::type;

// Starts op until it is pending (returns false) or finished (returns true).
template <class Op>
bool drive(Op& op) noexcept {
  auto* state = static_cast<SocketState*>(op.handle);
  if (state == nullptr || state->fd < 0) {
    op.result = -EBADF;
    return true;
  }
  Backend& backend = state->reactor->backend();
  for (;;) {
    if constexpr (requires { op.attempt(op); }) {
      if (op.attempt(op)) return true;
    }
    if (!backend.start(op)) return false;
    switch (op.advance(op)) {
      case Step::done: return true;
      case Step::again: continue;
      case Step::wait: return false;
    }
  }
}

// Runs after a backend completion (or a logic's own re-arm): returns true when the operation is finished.
template <class Op>
bool continue_after_completion(Op& op) noexcept {
  switch (op.advance(op)) {
    case Step::done: return true;
    case Step::again: return drive(op);
    case Step::wait: return false;
  }
  return true;
}

// Reports Errc::operation_in_progress to the handler of a callback operation refused because another of its
// kind is running, on a coming turn (never inside the call that tried to start it). Shared by every handler
// shell (sockets, TLS).
template <class Result, class Handler>
void refuse_operation(Reactor& reactor, Handler handler) {
  reactor.post([h = std::move(handler)]() mutable {
    if constexpr (std::is_same_v<Result, std::error_code>) {
      h(make_error_code(Errc::operation_in_progress));
    } else {
      h(Result(fail(Errc::operation_in_progress)));
    }
  });
}

template <class Logic>
class OperationAwaitable : public op_type_t<Logic>, public Logic {
  using Op = op_type_t<Logic>;

 public:
  template <class... A>
  explicit OperationAwaitable(SocketState* state, A&&... args) noexcept
      : Op(Logic::kind, &OperationAwaitable::on_complete), Logic(std::forward<A>(args)...) {
    this->handle = state;
    Logic::prepare(*this);
  }
  OperationAwaitable(OperationAwaitable&&) = delete;

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    return !drive(*this);
  }
  typename Logic::result_type await_resume() noexcept { return Logic::finish(*this); }

 private:
  static void on_complete(IoOp& base) noexcept {
    auto& self = static_cast<OperationAwaitable&>(base);
    if (continue_after_completion(self)) self.waiter_.resume();
  }
  std::coroutine_handle<> waiter_;
};

template <class Logic, std::size_t HandlerCapacity = 64>
class HandlerOperation : public op_type_t<Logic>, public Logic {
  using Op = op_type_t<Logic>;

 public:
  using Handler = InplaceFunction<void(typename Logic::result_type), HandlerCapacity>;

  HandlerOperation() noexcept : Op(Logic::kind, &HandlerOperation::on_complete) {}

  bool busy() const noexcept { return static_cast<bool>(handler_); }

  // Fails a second operation started while this one runs; reported on a coming turn, never inline.
  static void refuse(Reactor& reactor, Handler handler) {
    refuse_operation<typename Logic::result_type>(reactor, std::move(handler));
  }

  // The caller checks busy() first (one operation of a kind at a time; a second one is refused), then sets
  // the logic's arguments on this object, then launches.
  void launch(SocketState* state, Handler handler) noexcept {
    this->handle = state;
    handler_ = std::move(handler);
    finished_early_ = false;
    Logic::prepare(*this);
    if (drive(*this)) defer_completion();
  }

 private:
  void defer_completion() noexcept {
    finished_early_ = true;
    auto* state = static_cast<SocketState*>(this->handle);
    Backend& backend = state->reactor->backend();
    this->pending = true;
    this->backend = &backend;
    state->reactor->completions().push(*this);
  }


  static void on_complete(IoOp& base) noexcept {
    auto& self = static_cast<HandlerOperation&>(base);
    if (!self.finished_early_ && !continue_after_completion(self)) return;
    Handler h = std::move(self.handler_);  // free the slot first: the handler may start the next operation
    h(self.finish(self));
  }

  Handler handler_;
  bool finished_early_ = false;
};

// A callback-style operation its caller owns: embedded in a connection object (as a Timer is), it holds no
// handler beyond a context pointer; Callback, a function known at compile time, gets the context and the
// result. Nothing is allocated and nothing is kept per socket, so a callback-style connection pays only for
// the operations it holds (a socket's async_* calls keep every kind, ~2 KiB, behind the socket).
// start() returns true when the operation finished at once: the callback does not run, take_result() has the
// outcome (as an awaitable that need not suspend), so a state machine loops instead of recursing and a
// received buffer is used and given back within the turn instead of waiting in the completion queue. Otherwise
// the callback runs later, never inside start(). Destroying the operation while it runs abandons it (the
// callback never runs); the callback may start it again, or destroy it.
//     void on_data(void* self, Result<PooledBuffer> data) noexcept;
//     StreamSocket::RecvPooledOperation<&on_data> recv{this};
//     if (recv.start(socket)) use(recv.take_result());   // else on_data(this, ...) later
template <class Logic, auto Callback>
class OwnedOperation : public op_type_t<Logic>, public Logic {
  using Op = op_type_t<Logic>;

 public:
  using result_type = typename Logic::result_type;
  static_assert(std::is_nothrow_invocable_v<decltype(Callback), void*, result_type>,
                "Callback: void f(void* context, result_type) noexcept");

  explicit OwnedOperation(void* context) noexcept : Op(Logic::kind, &OwnedOperation::on_complete), context_(context) {}

  // Started and not yet reported: one at a time.
  bool busy() const noexcept { return this->shell_state != 0; }

  // Starts the operation on socket with the logic's arguments (a SendPooled's buffer); the caller checks
  // busy() first. True: finished at once, call take_result() now.
  template <class... A>
  [[nodiscard]] bool start(Socket& socket, A&&... args) noexcept {
    assert(!busy() && socket.state() != nullptr);
    static_cast<Logic&>(*this) = Logic(std::forward<A>(args)...);
    this->handle = socket.state();
    Logic::prepare(*this);
    if (drive(*this)) return true;
    this->shell_state = 1;
    return false;
  }
  // The outcome of a start() that returned true; once.
  result_type take_result() noexcept { return Logic::finish(*this); }

 private:
  static void on_complete(IoOp& base) noexcept {
    auto& self = static_cast<OwnedOperation&>(base);
    if (!continue_after_completion(self)) return;
    self.shell_state = 0;  // first: the callback may start the next operation or destroy this one
    Callback(self.context_, self.finish(self));
  }

  void* context_;
};

// A caller-owned operation that receives into a leased buffer and sends a buffer back, one at a time, in one
// 80-byte PooledRecvOp: the lean callback shell for a connection that answers what it receives (echo-server's
// callback connection). Nothing is rebuilt between messages: a receive leases a buffer at completion time
// (none is held while waiting) into buffer(), send() sends buffer() in place, all of it, and gives it back to
// its pool. The connection derives from it (CRTP), so it pays for no context pointer, and gets
//     void on_received(std::error_code ec) noexcept;  // the bytes are in buffer(); empty: end of stream
//     void on_sent(std::error_code ec) noexcept;      // the buffer went back to its pool
// (a private base needs `friend class PooledExchange<Conn>`). Two ways to receive:
//  * receive(): one message, then the operation is idle again;
//  * start_receiving(): libuv's read_start. The receive stays armed and on_received runs for every arrival
//    until stop_receiving(), the end of the stream or an error (then receiving() is false in on_received), with
//    nothing started again per message. In on_received take the bytes (std::move(buffer())) or send them:
//    the next arrival replaces a buffer left there.
// receive(), start_receiving() and send() return true when the operation finished at once (the callback does
// not run; take_error() has the outcome; a receive that finds data at once is not left armed), as
// OwnedOperation::start does; otherwise the callback runs later, never inside the call. send() is allowed in
// on_received while receiving: what the socket takes whole at once (Backend::try_send) leaves the receive armed;
// a send that must wait stops receiving first (one operation, one buffer: backpressure), so after on_sent the
// owner calls start_receiving() again. Destroying the operation while it runs abandons it (no callback runs).
template <class Owner>
class PooledExchange : public PooledRecvOp {
 public:
  PooledExchange() noexcept : PooledRecvOp(OpKind::recv_pooled, &PooledExchange::on_complete) {}

  // A receive or send is running, or the receive stands armed.
  bool busy() const noexcept { return this->shell_state != kIdle; }
  bool receiving() const noexcept { return this->shell_state == kReceiving; }
  PooledBuffer& buffer() noexcept { return this->leased; }

  [[nodiscard]] bool receive(Socket& socket) noexcept { return launch(socket, OpKind::recv_pooled, kRunning); }
  [[nodiscard]] bool start_receiving(Socket& socket) noexcept {
    return launch(socket, OpKind::recv_pooled_standing, kReceiving);
  }
  // Disarms a standing receive, also from on_received: no callback runs until the next start.
  void stop_receiving() noexcept {
    if (this->shell_state != kReceiving) return;
    this->shell_state = kIdle;
    if (this->pending) this->backend->abandon(*this);
  }

  // Sends buffer()'s bytes (at least one). What the socket takes at once goes without an operation
  // (Backend::try_send: no queue, no shell), the rest, if any, as one.
  [[nodiscard]] bool send(Socket& socket) noexcept {
    assert((!busy() || receiving()) && socket.state() != nullptr);
    auto* state = socket.state();
    if (state->fd >= 0) {
      const std::size_t size = this->leased.size();
      const int r = state->reactor->backend().try_send(*state, this->leased.data(), size);
      if (r != -EAGAIN) {
        if (r < 0 || static_cast<std::size_t>(r) == size) {
          this->leased.reset();  // sent (or failed): back to its pool; a standing receive stays armed
          this->result = r < 0 ? r : 0;
          return true;
        }
        this->leased.consume(static_cast<std::size_t>(r));  // a short send: the rest waits as an operation
      }
    }
    stop_receiving();
    return launch(socket, OpKind::send_pooled, kRunning);
  }
  // The outcome of a receive(), start_receiving() or send() that returned true; once.
  std::error_code take_error() noexcept { return finish(); }

  // The step drive() takes after each completion (as a logic's advance): a send goes on until the buffer is empty.
  Step advance(IoOp&) noexcept {
    if (this->kind == OpKind::send_pooled && this->result >= 0) {
      this->leased.consume(static_cast<std::size_t>(this->result));
      if (!this->leased.empty()) return Step::again;
    }
    return Step::done;
  }

 private:
  enum : std::uint8_t { kIdle, kRunning, kReceiving };  // shell_state

  bool launch(Socket& socket, OpKind k, std::uint8_t running) noexcept {
    assert(!busy() && socket.state() != nullptr);
    this->kind = k;
    this->handle = socket.state();
    if (drive(*this)) return true;
    this->shell_state = running;
    return false;
  }
  std::error_code finish() noexcept {
    if (this->kind == OpKind::send_pooled) this->leased.reset();  // sent (or failed): back to its pool
    return this->result < 0 ? op_error(*this) : std::error_code();
  }
  static void on_complete(IoOp& base) noexcept {
    auto& self = static_cast<PooledExchange&>(base);
    Owner& owner = static_cast<Owner&>(self);
    if (self.kind == OpKind::recv_pooled_standing) {
      // Still pending: armed for the next arrival. Otherwise the last one (end of stream, error, cancelled).
      if (!self.pending) {
        self.shell_state = kIdle;
        if (self.result <= 0) self.leased.reset();  // buffer() is empty at the end, whatever was left there
      }
      owner.on_received(self.finish());
      return;
    }
    if (!continue_after_completion(self)) return;
    self.shell_state = kIdle;  // first: the callback may start the next operation or destroy this one
    const bool sent = self.kind == OpKind::send_pooled;
    const std::error_code ec = self.finish();
    if (sent) {
      owner.on_sent(ec);
    } else {
      owner.on_received(ec);
    }
  }
};

// Starts a callback-style operation: a second one of the same kind while the first runs is refused (reported
// on a coming turn, never inline); otherwise setup(op) sets its arguments and it is launched.
template <class State, class Op, class Handler, class Setup>
void start_handler_op(Reactor& reactor, State* state, Op& op, Handler&& handler, Setup&& setup) {
  if (op.busy()) {
    Op::refuse(reactor, std::forward<Handler>(handler));
    return;
  }
  setup(op);
  op.launch(state, std::forward<Handler>(handler));
}

template <class Op, class Handler, class Setup>
void start_handler_op(SocketState* state, Op& op, Handler&& handler, Setup&& setup) {
  start_handler_op(*state->reactor, state, op, std::forward<Handler>(handler), std::forward<Setup>(setup));
}

}  // namespace rfarm::detail

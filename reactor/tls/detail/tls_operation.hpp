// The two shells of every TLS stream operation, after operation.hpp's pattern: one logic class per operation
// (tls_ops.hpp) becomes
//
//   TlsAwaitable<Logic>         in a coroutine frame:      auto n = co_await tls.recv(buf);
//   TlsHandlerOperation<Logic>  in the stream's state:     tls.async_recv(buf, [](Result<size_t>) {...});
//
// A TLS operation is not one socket operation: a receive may need several ciphertext receives, a send waits
// until its records have left, a handshake does both. So a TLS logic does not own an IoOp; it advances the
// shared OpenSSL session and, when it cannot finish, parks on its stream. The stream moves ciphertext through
// its socket and re-runs the parked operations whenever something changed (ciphertext arrived or left, the
// socket failed, the stream was closed).
//
// A Logic supplies
//   using result_type = ...;
//   void prepare(TlsState&, TlsOp& self) noexcept;   // before the first step
//   TlsStep step(TlsState&) noexcept;                // done, or wait (to be re-run on progress)
//   result_type finish() noexcept;
//   void cancel(std::error_code) noexcept;           // the stream is gone: finish with this error
//
// Not API (detail/): installed because tls_stream.hpp's templates include it.
#pragma once

#include <coroutine>
#include <cstdint>
#include <memory>
#include <system_error>
#include <utility>

#include "lib/inplace_function.hpp"
#include "lib/intrusive_list.hpp"
#include "reactor/backend/detail/operation.hpp"
#include "reactor/loop/reactor.hpp"

namespace rfarm::detail {

class TlsState;

enum class TlsStep : std::uint8_t { done, wait };

struct TlsOp : ListHook {
  using RunFn = void (*)(TlsOp&) noexcept;

  explicit TlsOp(RunFn fn) noexcept : run(fn), later(this) {}
  TlsOp(const TlsOp&) = delete;
  TlsOp& operator=(const TlsOp&) = delete;
  ~TlsOp() {
    if (linked()) IntrusiveList<TlsOp>::unlink(*this);
  }

  RunFn run;                   // re-runs the operation's step (or delivers its result)
  TlsState* stream = nullptr;  // null once the stream is destroyed: the operation finishes canceled

  // Runs the operation at the end of the current loop turn: a handler never runs inside the call that
  // started it, and a stream being destroyed finishes its parked operations this way.
  struct Later : TurnHook {
    explicit Later(TlsOp* o) noexcept : TurnHook(&Later::fire), op(o) {}
    static void fire(TurnHook& hook) noexcept {
      TlsOp* op = static_cast<Later&>(hook).op;
      op->run(*op);
    }
    TlsOp* op;
  } later;
};

// Parks op on its stream until the stream makes progress (tls_state.cpp).
void tls_park(TlsState& stream, TlsOp& op) noexcept;
Reactor& tls_reactor(TlsState& stream) noexcept;

template <class Logic>
class TlsAwaitable : public TlsOp, public Logic {
 public:
  template <class... A>
  explicit TlsAwaitable(TlsState* state, A&&... args) noexcept
      : TlsOp(&TlsAwaitable::on_run), Logic(std::forward<A>(args)...) {
    stream = state;
  }
  TlsAwaitable(TlsAwaitable&&) = delete;

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> waiter) noexcept {
    waiter_ = waiter;
    if (stream == nullptr) {  // a moved-from stream
      Logic::cancel(std::make_error_code(std::errc::bad_file_descriptor));
      return false;
    }
    Logic::prepare(*stream, *this);
    return !advance();
  }
  typename Logic::result_type await_resume() noexcept { return Logic::finish(); }

 private:
  bool advance() noexcept {
    if (Logic::step(*stream) == TlsStep::done) return true;
    tls_park(*stream, *this);
    return false;
  }
  static void on_run(TlsOp& op) noexcept {
    auto& self = static_cast<TlsAwaitable&>(op);
    if (self.stream == nullptr) {
      self.Logic::cancel(std::make_error_code(std::errc::operation_canceled));
    } else if (!self.advance()) {
      return;
    }
    self.waiter_.resume();  // last: the coroutine may destroy the stream, and this awaitable with its frame
  }
  std::coroutine_handle<> waiter_;
};

template <class Logic, std::size_t HandlerCapacity = 64>
class TlsHandlerOperation : public TlsOp, public Logic {
 public:
  using Handler = InplaceFunction<void(typename Logic::result_type), HandlerCapacity>;

  TlsHandlerOperation() noexcept : TlsOp(&TlsHandlerOperation::on_run) {}

  bool busy() const noexcept { return static_cast<bool>(handler_); }

  // Fails a second operation of this kind started while one runs; reported on a coming turn, never inline.
  static void refuse(Reactor& reactor, Handler handler) {
    refuse_operation<typename Logic::result_type>(reactor, std::move(handler));
  }

  // The caller checks busy() first, sets the logic's arguments on this object, then launches.
  void launch(TlsState* state, Handler handler) noexcept {
    stream = state;
    handler_ = std::move(handler);
    finished_ = false;
    Logic::prepare(*state, *this);
    if (Logic::step(*state) == TlsStep::done) {
      finished_ = true;
      tls_reactor(*state).at_end_of_turn(later);
    } else {
      tls_park(*state, *this);
    }
  }

 private:
  static void on_run(TlsOp& op) noexcept {
    auto& self = static_cast<TlsHandlerOperation&>(op);
    if (!self.finished_) {
      if (self.stream == nullptr) {
        self.Logic::cancel(std::make_error_code(std::errc::operation_canceled));
      } else if (self.Logic::step(*self.stream) != TlsStep::done) {
        tls_park(*self.stream, self);
        return;
      }
    }
    self.finished_ = false;
    Handler h = std::move(self.handler_);  // free the slot first: the handler may start the next operation
    h(self.Logic::finish());               // last: the handler may destroy the stream, and this object
  }

  Handler handler_;
  bool finished_ = false;
};

}  // namespace rfarm::detail

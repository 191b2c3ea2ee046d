// co_await runtime.submit_to(core, fn): runs fn on another core and returns its result on this one.
//
//     std::size_t n = co_await runtime.submit_to(1, [] { return this_core_cache().size(); });
//     co_await runtime.submit_to(2, [key] { this_core_cache().erase(key); });              // void
//     auto page = co_await runtime.submit_to(3, [id] -> Task<Page> { co_return co_await load(id); });
//
// fn runs on the target core in a coming turn, after the messages this core sent there before (the pair's
// queue keeps order). If it returns a Task, the task runs on the target core and its result is what comes
// back. The value travels back as a message on the reverse route and the awaiting coroutine resumes on the
// core it was on; an exception fn throws is rethrown there. Results are moved (move-only types work).
//
// Cost: one heap block per call holding fn, the result and the link back; the two messages carry one
// pointer each (in the queue slot itself, no allocation). fn is destroyed on the target after it ran.
// If the awaiting coroutine is destroyed while the call is out, the call still runs and its result is
// discarded. Must be awaited on a core of the runtime.
#pragma once

#include <atomic>
#include <coroutine>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/runtime/core_binding.hpp"
#include "reactor/runtime/mailbox.hpp"
#include "reactor/runtime/outcome.hpp"

namespace rfarm {

namespace detail {

template <class T>
struct TaskValue {
  static constexpr bool is_task = false;
  using type = T;
};
template <class T>
struct TaskValue<Task<T>> {
  static constexpr bool is_task = true;
  using type = T;
};

// The block a call lives in. Two owners: the awaiter, and the message carrying the call (request, then
// reply). Whichever lets go last frees it. abandoned and delivered are touched on the calling core only.
template <class F>
struct SubmitCall {
  using Returned = std::invoke_result_t<F&>;
  using R = typename TaskValue<Returned>::type;

  explicit SubmitCall(F&& f) : fn(std::move(f)) {}

  std::atomic<int> owners{2};
  std::optional<F> fn;
  Outcome<R> outcome;
  std::coroutine_handle<> waiter;
  unsigned origin = 0;
  bool abandoned = false;
  bool delivered = false;

  void release() noexcept {
    if (owners.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

// The message's share of a call.
template <class F>
class CallRef {
 public:
  explicit CallRef(SubmitCall<F>* call) noexcept : call_(call) {}
  CallRef(CallRef&& other) noexcept : call_(std::exchange(other.call_, nullptr)) {}
  CallRef& operator=(CallRef&&) = delete;
  ~CallRef() {
    if (call_ != nullptr) call_->release();
  }
  SubmitCall<F>* operator->() const noexcept { return call_; }

 private:
  SubmitCall<F>* call_;
};

template <class F>
void send_reply(CallRef<F> ref) {
  const unsigned origin = ref->origin;
  current_core()->mailbox->send(origin, [ref = std::move(ref)]() mutable {
    if (ref->abandoned) return;  // the awaiter is gone; the result is dropped with the block
    ref->delivered = true;
    ref->waiter.resume();        // the awaiter may end (and let go of the block) inside; ref keeps it
  });
}

template <class F>
Task<void> run_task_and_reply(CallRef<F> ref) {
  using R = typename SubmitCall<F>::R;
  try {
    if constexpr (std::is_void_v<R>) {
      co_await (*ref->fn)();
      ref->outcome.set_value();
    } else {
      ref->outcome.set_value(co_await (*ref->fn)());
    }
  } catch (...) {
    ref->outcome.set_exception(std::current_exception());
  }
  ref->fn.reset();
  send_reply(std::move(ref));
}

// Runs on the target core.
template <class F>
void run_submitted(CallRef<F> ref) {
  if constexpr (TaskValue<typename SubmitCall<F>::Returned>::is_task) {
    current_core()->reactor->spawn(run_task_and_reply(std::move(ref)));
  } else {
    ref->outcome.capture(*ref->fn);
    ref->fn.reset();
    send_reply(std::move(ref));
  }
}

}  // namespace detail

template <class F>
class [[nodiscard]] SubmitAwaitable {
  using Call = detail::SubmitCall<F>;

 public:
  using result_type = typename Call::R;

  SubmitAwaitable(unsigned core, F&& fn) : target_(core), fn_(std::move(fn)) {}
  SubmitAwaitable(SubmitAwaitable&& other) noexcept
      : target_(other.target_), fn_(std::move(other.fn_)), call_(std::exchange(other.call_, nullptr)) {}
  SubmitAwaitable& operator=(SubmitAwaitable&&) = delete;
  ~SubmitAwaitable() {
    if (call_ == nullptr) return;
    if (!call_->delivered) call_->abandoned = true;
    call_->release();
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiter) {
    detail::CoreBinding* here = detail::current_core();
    if (here == nullptr) throw std::logic_error("submit_to: not on a runtime core");
    if (target_ >= here->mailbox->core_count()) throw std::out_of_range("submit_to: no such core");
    call_ = new Call(std::move(fn_));
    call_->waiter = waiter;
    call_->origin = here->core;
    here->mailbox->send(target_, [ref = detail::CallRef<F>(call_)]() mutable { detail::run_submitted(std::move(ref)); });
  }
  result_type await_resume() { return call_->outcome.take(); }

 private:
  unsigned target_;
  F fn_;
  Call* call_ = nullptr;
};

}  // namespace rfarm

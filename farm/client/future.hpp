// Future<T> and Promise<T>, lparallel's: a value that will exist. A promise is fulfilled once (a second fulfill
// is ignored, as in lparallel); force() waits for it; then() chains work that runs when it is fulfilled.
//
//     Promise<int> p;
//     Future<int> f = p.future();
//     std::thread([p]() mutable { p.fulfill(42); }).detach();
//     int v = f.force();                                    // 42; a failure throws TaskExecutionError
//     Future<int> g = kernel.future<std::int64_t>("add", 1, 2).then([](std::int64_t n) { return n * 2; });
//     if (g.wait_for(1s)) std::expected<..., RemoteFailure> r = g.wait();
//     Future<Null> s = kernel.future<Null>("sleep_ms", 60'000);
//     s.cancel();                                            // s.wait() -> RemoteFailure{kind: cancelled}
//
// A remote future (Kernel::future) is fulfilled on the kernel's loop thread; continuations registered with then()
// run there (or at once, on the caller's thread, if it is already fulfilled): keep them short and non-blocking.
#pragma once

#include <chrono>
#include <condition_variable>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "farm/client/task_result.hpp"

namespace rfarm::farm {

template <class T>
class Future;

namespace detail {

template <class T>
struct FutureState {
  std::mutex mutex;
  std::condition_variable ready;
  std::optional<std::expected<T, RemoteFailure>> value;
  std::vector<std::function<void()>> continuations;
  // Asks the future's producer (the kernel) to cancel; set once, before the future is handed out.
  std::function<bool()> canceller;

  // False if it was already set.
  bool set(std::expected<T, RemoteFailure> v) {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard lock(mutex);
      if (value) return false;
      value.emplace(std::move(v));
      run = std::move(continuations);
    }
    ready.notify_all();
    for (auto& c : run) c();
    return true;
  }
};

}  // namespace detail

template <class T>
class Promise {
 public:
  Promise() : state_(std::make_shared<detail::FutureState<T>>()) {}

  // lparallel's fulfill: false if the promise was already fulfilled (or failed).
  bool fulfill(T value) { return state_->set(std::move(value)); }
  bool fail(RemoteFailure failure) { return state_->set(std::unexpected(std::move(failure))); }
  bool set(std::expected<T, RemoteFailure> value) { return state_->set(std::move(value)); }
  Future<T> future() const { return Future<T>(state_); }
  // What Future::cancel() calls (a remote future's: Kernel sets it); call before handing out the future.
  void on_cancel(std::function<bool()> canceller) { state_->canceller = std::move(canceller); }

 private:
  std::shared_ptr<detail::FutureState<T>> state_;
};

template <class T>
class Future {
 public:
  explicit Future(std::shared_ptr<detail::FutureState<T>> state) : state_(std::move(state)) {}

  // Waits; the value, or TaskExecutionError.
  T force() const {
    std::expected<T, RemoteFailure> v = wait();
    if (!v) throw TaskExecutionError(std::move(v.error()));
    return std::move(*v);
  }
  // Waits; the value or the failure (a copy: a future may be forced many times).
  std::expected<T, RemoteFailure> wait() const {
    std::unique_lock lock(state_->mutex);
    state_->ready.wait(lock, [&] { return state_->value.has_value(); });
    return *state_->value;
  }
  // Whether it is fulfilled within timeout.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    std::unique_lock lock(state_->mutex);
    return state_->ready.wait_for(lock, timeout, [&] { return state_->value.has_value(); });
  }
  // Asks for the task behind this future to be cancelled: true if the request was made (a remote future not yet
  // fulfilled). Its kernel answers it `cancelled` at once unless its answer arrived first (whichever comes first
  // wins; the loser is dropped), and tells its server (a Cancel frame, to a server that granted `cancel`) if it
  // was sent; a task not yet sent never reaches the wire. A future of a Promise, or of then(), has nothing to
  // cancel: false. From the kernel's thread (Kernel::start) the answer arrives on a later loop turn: wait() it.
  bool cancel() const {
    std::function<bool()> canceller;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->value || !state_->canceller) return false;
      canceller = state_->canceller;
    }
    return canceller();
  }
  // lparallel's fulfilledp.
  bool fulfilled() const {
    std::lock_guard lock(state_->mutex);
    return state_->value.has_value();
  }

  // A future of fn(value): fn runs when this one is fulfilled; a failure passes through without calling fn, and
  // a TaskExecutionError thrown by fn fails the new future.
  template <class Fn>
  auto then(Fn fn) const -> Future<std::invoke_result_t<Fn, T>> {
    using U = std::invoke_result_t<Fn, T>;
    Promise<U> next;
    auto run = [state = state_, next, fn = std::move(fn)]() mutable {
      std::expected<T, RemoteFailure> v = *state->value;
      if (!v) {
        next.fail(std::move(v.error()));
        return;
      }
      try {
        next.fulfill(fn(std::move(*v)));
      } catch (const TaskExecutionError& e) {
        next.fail(e.failure());
      }
    };
    bool now = false;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->value) now = true;
      else state_->continuations.push_back(std::move(run));
    }
    if (now) run();
    return next.future();
  }

 private:
  std::shared_ptr<detail::FutureState<T>> state_;
};

// plet-style: waits for every future and returns their values (the first failure, in argument order, throws).
template <class... T>
std::tuple<T...> when_all(const Future<T>&... futures) {
  return std::tuple<T...>{futures.force()...};  // braces: left to right
}

}  // namespace rfarm::farm

// MaybeReady<T>: an awaitable holding either a result computed at once or a Task that computes it.
//
// Buffered reads and writes usually finish without I/O (the line is already in the buffer, the bytes fit in
// the output buffer). Returning a Task for those would allocate a coroutine frame per call; a MaybeReady
// answers them with no frame and no suspension, and starts a Task only when I/O is needed.
//
//     rfarm::MaybeReady<int> twice(int x) { if (x < 100) return 2 * x; return slow_twice(x); }
//     int y = co_await twice(4);   // no frame, no suspension
//
// Like a Task it is awaited once; one that is never awaited never starts its Task. Awaiting runs the Task
// inline: if it finishes without suspending, the awaiter just carries on, so a loop of such awaits keeps the
// stack flat even where symmetric transfer is not a tail call (AddressSanitizer builds; lib/task.hpp).
#pragma once

#include <coroutine>
#include <variant>
#include <type_traits>
#include <utility>

#include "lib/task.hpp"

namespace rfarm {

template <class T>
class [[nodiscard]] MaybeReady {
 public:
  // Anything T can be made from ("return n;" in a function returning MaybeReady<Result<size_t>>).
  template <class U>
    requires(!std::is_same_v<std::remove_cvref_t<U>, MaybeReady> && !std::is_same_v<std::remove_cvref_t<U>, Task<T>> &&
             std::is_constructible_v<T, U &&>)
  MaybeReady(U&& value) : state_(std::in_place_index<1>, std::forward<U>(value)) {}  // NOLINT: "return n;"
  MaybeReady(Task<T> task) noexcept : state_(std::in_place_index<0>, std::move(task)) {}  // NOLINT: "return task;"

  bool ready() const noexcept { return state_.index() == 1; }

  bool await_ready() const noexcept { return state_.index() == 1; }
  // Runs the Task (as co_await of a Task does): suspends only if the Task does.
  bool await_suspend(std::coroutine_handle<> awaiter) noexcept {
    return detail::start_inline(std::get_if<0>(&state_)->handle(), awaiter);
  }
  T await_resume() {
    if (T* value = std::get_if<1>(&state_)) return std::move(*value);
    return std::get_if<0>(&state_)->handle().promise().take();
  }

  // The Task form (a ready value is wrapped in a trivial Task), for callers that store or spawn it.
  Task<T> into_task() && {
    if (T* value = std::get_if<1>(&state_)) return [](T v) -> Task<T> { co_return std::move(v); }(std::move(*value));
    return std::move(*std::get_if<0>(&state_));
  }

 private:
  std::variant<Task<T>, T> state_;  // the Task to run, or the result at hand
};

}  // namespace rfarm

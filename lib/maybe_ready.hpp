// MaybeReady<T>: an awaitable holding a result computed at once, or the operation that computes it: a Task,
// or an ObjectOp (an operation an object runs itself, with no coroutine frame at all).
//
// Buffered reads and writes usually finish without I/O (the line is already in the buffer, the bytes fit in
// the output buffer). Returning a Task for those would allocate a coroutine frame per call; a MaybeReady
// answers them with no frame and no suspension. When I/O is needed, a BufferedStream hands out an ObjectOp:
// the stream keeps the operation's state and drives the socket's own awaitables, so that path allocates no
// frame either.
//
//     rfarm::MaybeReady<int> twice(int x) { if (x < 100) return 2 * x; return slow_twice(x); }
//     int y = co_await twice(4);   // no frame, no suspension
//
// Like a Task it is awaited once; one that is never awaited never starts its operation. Awaiting runs the Task
// inline: if it finishes without suspending, the awaiter just carries on, so a loop of such awaits keeps the
// stack flat even where symmetric transfer is not a tail call (AddressSanitizer builds; lib/task.hpp).
#pragma once

#include <coroutine>
#include <variant>
#include <type_traits>
#include <utility>

#include "lib/task.hpp"

namespace rfarm {

// An operation an object runs without a coroutine frame of its own: the object holds its state; these say how
// to start it (true: it finished at once; false: it resumes the awaiter when it finishes), take its result,
// and abandon it (the awaiter went away while it waited: its frame was destroyed).
template <class T>
struct ObjectOp {
  void* object = nullptr;
  bool (*start)(void* object, std::coroutine_handle<> awaiter) noexcept = nullptr;
  T (*take)(void* object) noexcept = nullptr;
  void (*abandon)(void* object) noexcept = nullptr;
};

template <class T>
class [[nodiscard]] MaybeReady {
 public:
  // Anything T can be made from ("return n;" in a function returning MaybeReady<Result<size_t>>).
  template <class U>
    requires(!std::is_same_v<std::remove_cvref_t<U>, MaybeReady> && !std::is_same_v<std::remove_cvref_t<U>, Task<T>> &&
             std::is_constructible_v<T, U &&>)
  MaybeReady(U&& value) : state_(std::in_place_index<1>, std::forward<U>(value)) {}  // NOLINT: "return n;"
  MaybeReady(Task<T> task) noexcept : state_(std::in_place_index<0>, std::move(task)) {}  // NOLINT: "return task;"
  MaybeReady(ObjectOp<T> op) noexcept : state_(std::in_place_index<2>, op) {}  // NOLINT: "return op;"
  MaybeReady(MaybeReady&& other) noexcept : state_(std::move(other.state_)), waiting_(std::exchange(other.waiting_, false)) {}
  MaybeReady& operator=(MaybeReady&&) = delete;
  ~MaybeReady() {
    if (waiting_) std::get_if<2>(&state_)->abandon(std::get_if<2>(&state_)->object);
  }

  bool ready() const noexcept { return state_.index() == 1; }

  bool await_ready() const noexcept { return state_.index() == 1; }
  // Runs the Task (as co_await of a Task does) or starts the ObjectOp: suspends only if it does not finish.
  bool await_suspend(std::coroutine_handle<> awaiter) noexcept {
    if (ObjectOp<T>* op = std::get_if<2>(&state_)) {
      if (op->start(op->object, awaiter)) return false;
      waiting_ = true;
      return true;
    }
    return detail::start_inline(std::get_if<0>(&state_)->handle(), awaiter);
  }
  T await_resume() {
    if (T* value = std::get_if<1>(&state_)) return std::move(*value);
    if (ObjectOp<T>* op = std::get_if<2>(&state_)) {
      waiting_ = false;
      return op->take(op->object);
    }
    return std::get_if<0>(&state_)->handle().promise().take();
  }

  // The Task form (a ready value is wrapped in a trivial Task), for callers that store or spawn it.
  Task<T> into_task() && {
    if (T* value = std::get_if<1>(&state_)) return [](T v) -> Task<T> { co_return std::move(v); }(std::move(*value));
    if (state_.index() == 2) return [](MaybeReady op) -> Task<T> { co_return co_await op; }(std::move(*this));
    return std::move(*std::get_if<0>(&state_));
  }

 private:
  std::variant<Task<T>, T, ObjectOp<T>> state_;  // the Task to run, the result at hand, or the object's operation
  bool waiting_ = false;                         // an ObjectOp started and not yet taken
};

}  // namespace rfarm

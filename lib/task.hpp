// Task<T>: a lazily started coroutine whose result is awaited by exactly one other coroutine.
//
// A Task does nothing until it is awaited (or handed to Reactor::spawn, which runs it detached, or to
// Reactor::block_on, which runs the loop until it finishes). Completion
// resumes the awaiting coroutine by symmetric transfer, so long chains of tasks do not grow the stack where
// the compiler makes that transfer a tail call (-O2, not AddressSanitizer). Code that awaits many tasks that
// finish without suspending, in a loop, awaits them through MaybeReady (lib/maybe_ready.hpp), which runs
// them inline and so keeps the stack flat in every build.
//
//     rfarm::Task<std::size_t> read_header(rfarm::StreamSocket& s);
//     rfarm::Task<void> session(rfarm::StreamSocket s) { auto n = co_await read_header(s); ... }
//
// Several tasks at once: when_all / when_any (lib/when_all.hpp).
//
// An exception escaping a Task is rethrown in its awaiter. The reactor never lets one cross a loop turn:
// Reactor::spawn logs it and ends that task only.
#pragma once

#include <cassert>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>
#include <variant>

namespace rfarm {

template <class T = void>
class Task;

namespace detail {

struct TaskPromiseBase;

// Where a task started by a combinator (when_all, when_any: lib/when_all.hpp) reports that it finished, in
// place of resuming a continuation: arrive() returns the coroutine to resume next (the combinator's awaiter
// once the last task is in, else std::noop_coroutine()).
struct TaskJoin {
  using ArriveFn = std::coroutine_handle<> (*)(TaskJoin& join, TaskPromiseBase& finished) noexcept;
  ArriveFn arrive;
};

struct TaskPromiseBase {
  std::coroutine_handle<> continuation = std::noop_coroutine();
  TaskJoin* join = nullptr;  // set by a combinator: report there instead of resuming continuation
  // Set while an awaiter runs the task inside its own await_suspend (start_inline, used by MaybeReady). A task
  // that finishes there returns to that call rather than resuming the awaiter from within itself: symmetric
  // transfer keeps the stack flat only when it becomes a tail call, which GCC does not do under
  // AddressSanitizer, so a loop awaiting tasks that complete without suspending (buffered reads) would nest
  // a few frames per iteration until the stack overflows.
  bool running_inline = false;
  // Where Reactor::spawn registered a detached task (its index in the reactor's table); fits in the padding
  // after running_inline, so no frame grows for it.
  std::uint32_t spawn_slot = 0;

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) const noexcept {
      TaskPromiseBase& promise = h.promise();
      if (promise.running_inline) return std::noop_coroutine();  // back into start_inline (or the combinator)
      if (promise.join != nullptr) return promise.join->arrive(*promise.join, promise);
      return promise.continuation;
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
};

// Runs task until it first suspends or finishes, as the awaiter's await_suspend: returns whether the awaiter
// must suspend (false: the task finished inline and the awaiter carries on, with no frame left nested).
template <class Promise>
bool start_inline(std::coroutine_handle<Promise> task, std::coroutine_handle<> awaiter) noexcept {
  Promise& promise = task.promise();
  promise.continuation = awaiter;
  promise.running_inline = true;
  task.resume();
  if (task.done()) return false;
  promise.running_inline = false;  // it suspended: when it finishes later it resumes the awaiter itself
  return true;
}

template <class T>
struct TaskPromise : TaskPromiseBase {
  std::variant<std::monostate, T, std::exception_ptr> result;

  Task<T> get_return_object() noexcept;
  template <class U>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) {
    result.template emplace<1>(std::forward<U>(value));
  }
  void unhandled_exception() noexcept { result.template emplace<2>(std::current_exception()); }

  T take() {
    if (result.index() == 2) std::rethrow_exception(std::get<2>(result));
    return std::move(std::get<1>(result));
  }
  std::exception_ptr failure() const noexcept { return result.index() == 2 ? std::get<2>(result) : nullptr; }
};

template <>
struct TaskPromise<void> : TaskPromiseBase {
  std::exception_ptr exception;

  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void unhandled_exception() noexcept { exception = std::current_exception(); }
  void take() {
    if (exception) std::rethrow_exception(exception);
  }
  std::exception_ptr failure() const noexcept { return exception; }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() noexcept = default;
  explicit Task(Handle h) noexcept : handle_(h) {}
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { destroy(); }

  bool valid() const noexcept { return static_cast<bool>(handle_); }
  bool done() const noexcept { return handle_ && handle_.done(); }

  // Awaiting starts the task and suspends the awaiter until it finishes.
  auto operator co_await() && noexcept {
    struct Awaiter {
      Handle handle;
      bool await_ready() const noexcept { return !handle || handle.done(); }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        handle.promise().continuation = awaiting;
        return handle;
      }
      T await_resume() { return handle.promise().take(); }
    };
    assert(handle_);
    return Awaiter{handle_};
  }

  // For drivers (Reactor::spawn, Reactor::block_on, when_all): the raw handle, ownership retained by the Task.
  Handle handle() const noexcept { return handle_; }
  Handle release() noexcept { return std::exchange(handle_, {}); }

 private:
  void destroy() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }
  Handle handle_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace rfarm

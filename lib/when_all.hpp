// when_all / when_any: await several Tasks at once.
//
//     auto [user, quota] = co_await rfarm::when_all(load_user(id), load_quota(id));   // std::tuple<User, Quota>
//     std::vector<int> sizes = co_await rfarm::when_all(std::move(tasks));          // std::vector<Task<int>>
//     auto first = co_await rfarm::when_any(stop, ask(a, stop.get_token()), ask(b, stop.get_token()));
//     // first.index: which task finished first; first.value: its result (a std::variant, by index)
//
// Both start every task at once, in argument (range) order, each running until it first suspends; they then
// run concurrently (on one thread: they interleave at their suspension points, on the reactor or wherever
// they wait). The tasks resume the awaiter by symmetric transfer: no scheduler is involved, so this header
// does no I/O and works the same whether the tasks finish inline or later on a reactor.
//
// Choices:
//  * A void task's result is std::monostate in the tuple (so a position in the tuple is the position of its
//    task); the range form of Task<void> gives void.
//  * Every task always runs to completion before the awaiter resumes. when_all then rethrows the exception
//    of the first task in argument order that failed, if any (the others' results and exceptions are
//    dropped); results are moved out, so move-only results work.
//  * when_any cannot return before the losers finish: a Task is owned by whoever awaits it, and the
//    combined awaitable lives in the awaiter's frame, so returning early would leave the losers' frames
//    suspended with nobody to resume or free them (and destroying a suspended frame abandons its I/O). So
//    when_any reports the first task to finish, asks the others to stop through the std::stop_source it was
//    given (stop.request_stop() once the first finishes), and resumes the awaiter when all have finished.
//    Tasks that should end early take stop.get_token() and watch it (a std::stop_callback that closes their
//    socket makes a pending receive complete with operation_canceled). Without a stop source, when_any waits
//    for every task. If the winner threw, when_any rethrows that; the losers' exceptions are dropped.
//  * Stack: tasks that finish inline return into the combinator's await_suspend (TaskPromiseBase::
//    running_inline), which starts the next one, so thousands of synchronous tasks keep the stack flat in
//    every build, AddressSanitizer included (no reliance on tail calls); if all finish inline the awaiter
//    does not suspend at all.
//
// The combined awaitable holds the tasks; await it once (it may be moved before that, not after).
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <stdexcept>
#include <stop_token>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "lib/task.hpp"

namespace rfarm {

// What a Task<T> contributes to a when_all tuple or a when_any variant: T, or std::monostate for void.
template <class T>
using TaskValue = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// The result of when_any over tasks of different types: which task finished first, and its result.
template <class... Ts>
struct WhenAnyResult {
  std::size_t index;
  std::variant<TaskValue<Ts>...> value;  // holds alternative `index`
};

// The result of when_any over a range of Task<T>.
template <class T>
struct WhenAnyRangeResult {
  std::size_t index;
  TaskValue<T> value;
};

namespace detail {

// The shared part of every combinator: counts the tasks still running and resumes the awaiter after the
// last one. `remaining_` starts one above the number of tasks; the starting loop holds that extra count, so a
// task that finishes (inline, or resumed by a sibling) while tasks are still being started never resumes the
// awaiter from inside await_suspend. It also notes the first task to finish (for when_any) and then asks the
// others to stop, if given a stop source.
class JoinCounter : public TaskJoin {
 public:
  explicit JoinCounter(std::stop_source* stop = nullptr) noexcept : TaskJoin{&JoinCounter::on_arrive}, stop_(stop) {}

  void begin(std::size_t tasks, std::coroutine_handle<> awaiter) noexcept {
    remaining_ = tasks + 1;
    awaiter_ = awaiter;
  }

  // Starts one task: it runs until it suspends or finishes (then it returns here: running_inline).
  template <class T>
  void start(Task<T>& task) noexcept {
    auto handle = task.handle();
    assert(handle && !handle.done());
    auto& promise = handle.promise();
    promise.join = this;
    promise.running_inline = true;
    handle.resume();
    promise.running_inline = false;
    if (handle.done()) {
      note_finished(promise);
      --remaining_;
    }
  }

  // After starting every task: true when the awaiter must suspend (some task is still running).
  bool end_of_starts() noexcept { return --remaining_ != 0; }

  // The promise of the first task that finished.
  const TaskPromiseBase* first() const noexcept { return first_; }

 private:
  void note_finished(TaskPromiseBase& finished) noexcept {
    if (first_ != nullptr) return;
    first_ = &finished;
    if (stop_ != nullptr) stop_->request_stop();  // may run stop callbacks that resume nothing but I/O cancels
  }

  static std::coroutine_handle<> on_arrive(TaskJoin& join, TaskPromiseBase& finished) noexcept {
    auto& self = static_cast<JoinCounter&>(join);
    self.note_finished(finished);
    if (--self.remaining_ == 0) return self.awaiter_;
    return std::noop_coroutine();
  }

  std::size_t remaining_ = 0;
  std::coroutine_handle<> awaiter_;
  const TaskPromiseBase* first_ = nullptr;
  std::stop_source* stop_;
};

template <class T>
TaskValue<T> take_value(Task<T>& task) {
  if constexpr (std::is_void_v<T>) {
    task.handle().promise().take();
    return {};
  } else {
    return task.handle().promise().take();
  }
}

template <class T>
std::exception_ptr failure_of(const Task<T>& task) noexcept {
  return task.handle().promise().failure();
}

template <class... Ts>
class WhenAllTuple {
 public:
  explicit WhenAllTuple(Task<Ts>... tasks) noexcept : tasks_(std::move(tasks)...) {}

  bool await_ready() const noexcept { return sizeof...(Ts) == 0; }
  bool await_suspend(std::coroutine_handle<> awaiter) noexcept {
    join_.begin(sizeof...(Ts), awaiter);
    std::apply([&](auto&... task) { (join_.start(task), ...); }, tasks_);
    return join_.end_of_starts();
  }
  std::tuple<TaskValue<Ts>...> await_resume() {
    std::apply(
        [](auto&... task) {
          std::exception_ptr first;
          ((first = first ? first : failure_of(task)), ...);
          if (first) std::rethrow_exception(first);
        },
        tasks_);
    return std::apply([](auto&... task) { return std::tuple<TaskValue<Ts>...>(take_value(task)...); }, tasks_);
  }

 private:
  std::tuple<Task<Ts>...> tasks_;
  JoinCounter join_;
};

template <class T>
class WhenAllRange {
 public:
  explicit WhenAllRange(std::vector<Task<T>> tasks) noexcept : tasks_(std::move(tasks)) {}

  bool await_ready() const noexcept { return tasks_.empty(); }
  bool await_suspend(std::coroutine_handle<> awaiter) noexcept {
    join_.begin(tasks_.size(), awaiter);
    for (Task<T>& task : tasks_) join_.start(task);
    return join_.end_of_starts();
  }
  auto await_resume() {
    for (const Task<T>& task : tasks_)
      if (std::exception_ptr e = failure_of(task)) std::rethrow_exception(e);
    if constexpr (std::is_void_v<T>) {
      return;
    } else {
      std::vector<T> values;
      values.reserve(tasks_.size());
      for (Task<T>& task : tasks_) values.push_back(task.handle().promise().take());
      return values;
    }
  }

 private:
  std::vector<Task<T>> tasks_;
  JoinCounter join_;
};

template <class... Ts>
class WhenAnyTuple {
 public:
  WhenAnyTuple(std::optional<std::stop_source> stop, Task<Ts>... tasks) noexcept
      : stop_(std::move(stop)), tasks_(std::move(tasks)...), join_(stop_ ? &*stop_ : nullptr) {}
  WhenAnyTuple(WhenAnyTuple&& other) noexcept
      : stop_(std::move(other.stop_)), tasks_(std::move(other.tasks_)), join_(stop_ ? &*stop_ : nullptr) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiter) noexcept {
    join_.begin(sizeof...(Ts), awaiter);
    std::apply([&](auto&... task) { (join_.start(task), ...); }, tasks_);
    return join_.end_of_starts();
  }
  WhenAnyResult<Ts...> await_resume() { return take<0>(); }

 private:
  template <std::size_t I>
  WhenAnyResult<Ts...> take() {
    auto& task = std::get<I>(tasks_);
    if (static_cast<const TaskPromiseBase*>(&task.handle().promise()) == join_.first())
      return {I, std::variant<TaskValue<Ts>...>(std::in_place_index<I>, take_value(task))};
    if constexpr (I + 1 < sizeof...(Ts)) {
      return take<I + 1>();
    } else {
      std::terminate();  // unreachable: every task finished, so one of them was first
    }
  }

  std::optional<std::stop_source> stop_;
  std::tuple<Task<Ts>...> tasks_;
  JoinCounter join_;
};

template <class T>
class WhenAnyRange {
 public:
  WhenAnyRange(std::optional<std::stop_source> stop, std::vector<Task<T>> tasks)
      : stop_(std::move(stop)), tasks_(std::move(tasks)), join_(stop_ ? &*stop_ : nullptr) {
    if (tasks_.empty()) throw std::invalid_argument("when_any: no tasks");
  }
  WhenAnyRange(WhenAnyRange&& other) noexcept
      : stop_(std::move(other.stop_)), tasks_(std::move(other.tasks_)), join_(stop_ ? &*stop_ : nullptr) {}

  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> awaiter) noexcept {
    join_.begin(tasks_.size(), awaiter);
    for (Task<T>& task : tasks_) join_.start(task);
    return join_.end_of_starts();
  }
  WhenAnyRangeResult<T> await_resume() {
    for (std::size_t i = 0; i < tasks_.size(); ++i) {
      if (static_cast<const TaskPromiseBase*>(&tasks_[i].handle().promise()) == join_.first())
        return {i, take_value(tasks_[i])};
    }
    std::terminate();  // unreachable: every task finished, so one of them was first
  }

 private:
  std::optional<std::stop_source> stop_;
  std::vector<Task<T>> tasks_;
  JoinCounter join_;
};

}  // namespace detail

// co_await when_all(t1, t2, ...) -> std::tuple<results...> (void: std::monostate).
template <class... Ts>
[[nodiscard]] detail::WhenAllTuple<Ts...> when_all(Task<Ts>... tasks) {
  return detail::WhenAllTuple<Ts...>(std::move(tasks)...);
}

// co_await when_all(std::vector<Task<T>>) -> std::vector<T> (void for Task<void>); an empty range is ready.
template <class T>
[[nodiscard]] detail::WhenAllRange<T> when_all(std::vector<Task<T>> tasks) {
  return detail::WhenAllRange<T>(std::move(tasks));
}

// co_await when_any(t1, t2, ...) -> WhenAnyResult{index, variant}: waits for every task (see above).
template <class... Ts>
  requires(sizeof...(Ts) > 0)
[[nodiscard]] detail::WhenAnyTuple<Ts...> when_any(Task<Ts>... tasks) {
  return detail::WhenAnyTuple<Ts...>(std::nullopt, std::move(tasks)...);
}
// The same, and stop.request_stop() as soon as the first task finishes, so the others can end early.
template <class... Ts>
  requires(sizeof...(Ts) > 0)
[[nodiscard]] detail::WhenAnyTuple<Ts...> when_any(std::stop_source stop, Task<Ts>... tasks) {
  return detail::WhenAnyTuple<Ts...>(std::move(stop), std::move(tasks)...);
}

// co_await when_any(std::vector<Task<T>>) -> WhenAnyRangeResult{index, value}; throws std::invalid_argument
// for an empty range (there is no first task).
template <class T>
[[nodiscard]] detail::WhenAnyRange<T> when_any(std::vector<Task<T>> tasks) {
  return detail::WhenAnyRange<T>(std::nullopt, std::move(tasks));
}
template <class T>
[[nodiscard]] detail::WhenAnyRange<T> when_any(std::stop_source stop, std::vector<Task<T>> tasks) {
  return detail::WhenAnyRange<T>(std::move(stop), std::move(tasks));
}

}  // namespace rfarm

// AttachedKernel: the kernel on the caller's own reactor (Kernel::attach), FARM_DESIGN.md's awaitable facade. No
// engine thread and no thread hop: the KernelCore, its connections and every answer live on that reactor, and a
// coroutine there co_awaits a task's result while the loop goes on serving everything else.
//
//     Task<void> job(Reactor& reactor) {
//       auto kernel = Kernel::attach(reactor, options);          // Result<AttachedKernel>
//       if (!kernel) co_return;
//       RemoteCall<std::int64_t> n = kernel->submit<std::int64_t>("count_primes", 0, 1000);
//       std::expected<std::int64_t, RemoteFailure> v = co_await n;   // 168; the loop was never blocked
//       co_await kernel->close();                                 // every connection closed
//     }
//
// Every call is for the reactor's thread only (another thread posts to it: one reactor per thread). Submits take
// effect at the end of the turn, so a coroutine that submits 1,000 calls before its first co_await sends them in
// one batch. There is no backpressure here (the caller's coroutine decides how much it has in flight).
#pragma once

#include <coroutine>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "farm/client/encode_args.hpp"
#include "farm/client/kernel_core.hpp"
#include "farm/client/task_record.hpp"
#include "farm/client/task_result.hpp"
#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"

namespace rfarm::farm {

namespace detail {

template <class T>
struct CallState {
  explicit CallState(Reactor& r) noexcept : reactor(&r) {}
  Reactor* reactor;
  std::optional<std::expected<T, RemoteFailure>> value;
  std::coroutine_handle<> waiter;
};

// Stores the answer and resumes the awaiting coroutine on a coming turn of the same reactor (not inline: the
// answer arrives from inside the kernel's own bookkeeping, which user code must not re-enter).
template <class T>
class CallSink final : public ResultSink {
 public:
  CallSink(std::shared_ptr<CallState<T>> state, std::string task) : state_(std::move(state)), task_(std::move(task)) {}
  void complete(std::uint64_t, RemoteResult result) override {
    if constexpr (std::is_same_v<T, TaskResult>) state_->value.emplace(std::move(result));
    else state_->value.emplace(result_as<T>(result, task_));
    if (auto h = std::exchange(state_->waiter, {})) state_->reactor->post([h] { h.resume(); });
  }

 private:
  std::shared_ptr<CallState<T>> state_;
  std::string task_;
};

}  // namespace detail

// One task's answer to come: co_await it (once) for std::expected<T, RemoteFailure>; cancel() as Future::cancel.
template <class T>
class RemoteCall {
 public:
  RemoteCall(std::shared_ptr<detail::CallState<T>> state, std::weak_ptr<ResultSink> sink, KernelCore* core)
      : state_(std::move(state)), sink_(std::move(sink)), core_(core) {}
  // Move-only: the awaiting coroutine is recorded in the shared state, and a call destroyed while awaited (its
  // coroutine destroyed) must unhook it so that the answer resumes nothing.
  RemoteCall(RemoteCall&&) noexcept = default;
  RemoteCall& operator=(RemoteCall&&) noexcept = default;
  ~RemoteCall() {
    if (state_) state_->waiter = {};
  }

  bool ready() const noexcept { return state_->value.has_value(); }
  // Answered `cancelled` now unless its answer came first (false then); see KernelCore::cancel.
  bool cancel() {
    auto sink = sink_.lock();  // alive: the task is unanswered, so its kernel is open
    return sink && core_->cancel(sink.get());
  }

  bool await_ready() const noexcept { return ready(); }
  void await_suspend(std::coroutine_handle<> h) noexcept { state_->waiter = h; }
  std::expected<T, RemoteFailure> await_resume() { return std::move(*state_->value); }

 private:
  std::shared_ptr<detail::CallState<T>> state_;
  std::weak_ptr<ResultSink> sink_;
  KernelCore* core_;
};

class AttachedKernel {
 public:
  // Kernel::attach makes it (kernel.hpp).
  explicit AttachedKernel(std::unique_ptr<KernelCore> core) noexcept : core_(std::move(core)) {}
  AttachedKernel(AttachedKernel&&) noexcept = default;
  AttachedKernel& operator=(AttachedKernel&&) = delete;
  // Not closed yet: it closes in the background and frees itself once its connections are closed (the reactor
  // must keep running for that); co_await close() for an orderly end.
  ~AttachedKernel();

  // lparallel's future, awaitable: the task runs somewhere in the farm; co_await gives its value as T.
  template <class T, class... A>
  RemoteCall<T> submit(std::string_view task, const A&... args) {
    return submit_with<T>(core_->options().default_policy, task, args...);
  }
  template <class T, class... A>
  RemoteCall<T> submit_with(const TaskPolicy& policy, std::string_view task, const A&... args) {
    auto state = std::make_shared<detail::CallState<T>>(core_->reactor());
    auto sink = std::make_shared<detail::CallSink<T>>(state, std::string(task));
    RemoteCall<T> call(state, sink, core_.get());
    TaskRecord r;
    r.task = std::string(task);
    r.args = encode_args(args...);
    r.policy = policy;
    r.sink = std::move(sink);
    core_->submit(std::move(r));
    return call;
  }

  // Fails every unanswered task (cancelled) and resumes once every connection is closed.
  Task<void> close();

  std::size_t ready_connections() const noexcept { return core_->ready_connections(); }
  KernelStats stats() const { return core_->stats(); }
  Reactor& reactor() noexcept { return core_->reactor(); }

 private:
  std::unique_ptr<KernelCore> core_;
  bool closed_ = false;
};

}  // namespace rfarm::farm

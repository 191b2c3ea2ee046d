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
// one batch.
//
// Backpressure, as Kernel's (KernelOptions::max_unsent: tasks handed to the kernel and not yet sent to a server):
//     RemoteCall<std::int64_t> c = co_await kernel->submit_when_room<std::int64_t>("add", 1, 2);  // suspends while full
//     auto c = kernel->try_submit<std::int64_t>("add", 1, 2);   // std::errc::resource_unavailable_try_again if full
// submit() itself never waits and is not bounded: a coroutine that awaits its calls as it goes bounds itself.
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
#include "lib/error.hpp"
#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"

namespace rfarm::farm {

class AttachedKernel;

namespace detail {

// The attached kernel's backpressure gate: the unsent count against KernelOptions::max_unsent, and the
// coroutines waiting for room. Shared with those coroutines, which may be resumed after the kernel is gone
// (closed: their tasks fail `cancelled`).
class Room {
 public:
  Room(Reactor& reactor, std::size_t bound) noexcept : reactor_(&reactor), bound_(bound > 0 ? bound : 1) {}
  bool has_room() const noexcept { return closed_ || unsent_ < bound_; }
  bool closed() const noexcept { return closed_; }
  // The core's unsent count changed: waiters are resumed (on a coming turn, in the order they came) if there is
  // room; each looks again, so no more than the bound get in.
  void update(std::size_t unsent);
  void close();

  class Awaitable {
   public:
    explicit Awaitable(std::shared_ptr<Room> room) noexcept : room_(std::move(room)) {}
    Awaitable(const Awaitable&) = delete;
    Awaitable& operator=(const Awaitable&) = delete;
    ~Awaitable() { room_->forget(this); }  // a waiting coroutine destroyed: resume nothing
    bool await_ready() const noexcept { return room_->has_room(); }
    void await_suspend(std::coroutine_handle<> h) {
      handle_ = h;
      room_->waiters_.push_back(this);
    }
    void await_resume() const noexcept {}

   private:
    friend class Room;
    std::shared_ptr<Room> room_;
    std::coroutine_handle<> handle_;
  };

 private:
  void wake();
  void resume_woken();
  void forget(Awaitable* a) noexcept;

  Reactor* reactor_;
  std::size_t bound_;
  std::size_t unsent_ = 0;
  bool closed_ = false;
  bool resume_posted_ = false;
  std::vector<Awaitable*> waiters_;  // suspended, in arrival order
  std::vector<Awaitable*> woken_;    // to be resumed by the posted resume_woken
  std::weak_ptr<Room> self_;         // for the posted resumption
  friend class rfarm::farm::AttachedKernel;
};

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
  explicit AttachedKernel(std::unique_ptr<KernelCore> core);
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
    Prepared<T> p = prepare<T>(policy, task, args...);
    hand_over(std::move(p.record));
    return std::move(p.call);
  }

  // Backpressure: as submit, but suspends (the loop goes on) while options.max_unsent tasks wait in the kernel
  // for a server; the arguments are encoded now. After close() the call is answered `cancelled`.
  template <class T, class... A>
  Task<RemoteCall<T>> submit_when_room(std::string_view task, const A&... args) {
    return admit<T>(room_, core_.get(), prepare<T>(core_->options().default_policy, task, args...));
  }
  // As submit, but std::errc::resource_unavailable_try_again instead of waiting when the kernel is full, and
  // std::errc::operation_canceled after close().
  template <class T, class... A>
  Result<RemoteCall<T>> try_submit(std::string_view task, const A&... args) {
    if (!core_ || closed_) return fail(make_error_code(std::errc::operation_canceled));
    if (!room_->has_room()) return fail(make_error_code(std::errc::resource_unavailable_try_again));
    return submit<T>(task, args...);
  }
  // Tasks handed to this kernel and not yet sent to a server.
  std::size_t unsent() const noexcept { return core_ ? core_->unsent() : 0; }

  // Fails every unanswered task (cancelled) and resumes once every connection is closed.
  Task<void> close();

  std::size_t ready_connections() const noexcept { return core_->ready_connections(); }
  KernelStats stats() const { return core_->stats(); }
  Reactor& reactor() noexcept { return core_->reactor(); }

 private:
  template <class T>
  struct Prepared {
    RemoteCall<T> call;
    TaskRecord record;
  };
  template <class T, class... A>
  Prepared<T> prepare(const TaskPolicy& policy, std::string_view task, const A&... args) {
    auto state = std::make_shared<detail::CallState<T>>(core_->reactor());
    auto sink = std::make_shared<detail::CallSink<T>>(state, std::string(task));
    RemoteCall<T> call(state, sink, core_.get());
    TaskRecord r;
    r.task = std::string(task);
    r.args = encode_args(args...);
    r.policy = policy;
    r.sink = std::move(sink);
    return {std::move(call), std::move(r)};
  }
  // Into the core now (the count the gate sees grows at once, not at the end of the turn).
  void hand_over(TaskRecord record);
  static void fail_closed(TaskRecord& record);
  template <class T>
  static Task<RemoteCall<T>> admit(std::shared_ptr<detail::Room> room, KernelCore* core, Prepared<T> p) {
    while (!room->has_room()) co_await detail::Room::Awaitable(room);
    if (room->closed()) {
      fail_closed(p.record);
    } else {
      core->submit(std::move(p.record));
      room->update(core->unsent());
    }
    co_return std::move(p.call);
  }

  std::unique_ptr<KernelCore> core_;
  std::shared_ptr<detail::Room> room_;
  bool closed_ = false;
};

}  // namespace rfarm::farm

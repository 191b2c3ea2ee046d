// Offloading blocking work from a core to the runtime's worker threads.
//
//     std::string text = co_await runtime.offload([path] { return read_whole_file(path); });  // a worker reads
//     // ... and this coroutine resumes here, on the core that awaited
//
//     runtime.offload([] { return checksum(big); },                      // the callback form
//                     [](rfarm::OffloadResult<std::uint32_t> r) { ... });  // runs on the calling core
//
// Must be called on one of the runtime's cores. fn runs on a worker thread: it must not touch the core's
// reactor or sockets (the worker may block as long as it likes; the core keeps serving). Its value comes back
// to the calling core; an exception it throws is rethrown there (or handed to the callback).
//
// Bounded, with backpressure: a core has at most RuntimeOptions::offload_limit calls in flight (queued for a
// worker, or running). Beyond that a call waits on its own core, in order, until one of the core's earlier
// calls completes; the loop keeps running meanwhile (the caller's coroutine is simply not resumed yet). So a
// burst of offloads costs memory in proportion to the callers, never an unbounded queue, and never blocks
// the loop. Workers take calls from one lock-free queue sized for every core's limit.
//
// Batched: the calls a core makes in one loop turn wake idle workers once, at the end of the turn; finished
// calls return to the core through a lock-free stack and wake it at most once while it sleeps (many
// completions, one wake-up). Each call allocates one block (the function, its result, the links).
//
// If the awaiting coroutine is destroyed first, its call still runs (a worker cannot be interrupted) and its
// result is discarded on the core. When the runtime is destroyed, calls still queued are not run.
#pragma once

#include <coroutine>
#include <exception>
#include <expected>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>

#include "lib/intrusive_list.hpp"
#include "lib/log.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/runtime/core_binding.hpp"
#include "reactor/runtime/outcome.hpp"
#include "reactor/runtime/worker_pool.hpp"

namespace rfarm {

// What the callback form of offload() receives: fn's value, or the exception it threw.
template <class T>
using OffloadResult = std::expected<T, std::exception_ptr>;

namespace detail {

enum class OffloadState : std::uint8_t {
  created,    // not handed to the gate yet
  waiting,    // held back on its core by the in-flight limit
  submitted,  // in the pool's queue, running, or on its way back
  done,       // delivered, or dropped by the runtime's teardown: nothing refers to it but its owner
};

class OffloadGate;

// The parts of a job that the gate and the deliveries share.
struct GatedJob : OffloadJob {
  OffloadGate* gate = nullptr;
  OffloadState state = OffloadState::created;
};

// A core's door to the worker pool: the in-flight limit and the calls waiting behind it. Core-local.
class OffloadGate {
 public:
  OffloadGate(WorkerPool& pool, Mailbox& mailbox, Reactor& reactor, std::size_t limit) noexcept
      : pool_(pool), mailbox_(mailbox), reactor_(reactor), limit_(limit == 0 ? 1 : limit) {}
  OffloadGate(const OffloadGate&) = delete;
  OffloadGate& operator=(const OffloadGate&) = delete;
  // Teardown: calls still held back are detached (their awaiters, destroyed with the reactor, free them).
  ~OffloadGate();

  // Hands job to a worker now, or holds it back behind the limit (FIFO).
  void submit(GatedJob& job) noexcept;
  // One of this core's calls came back: its place goes to the first waiting call.
  void finished() noexcept;
  // A waiting call's owner went away before the call was admitted.
  void withdraw(GatedJob& job) noexcept;

  std::size_t in_flight() const noexcept { return in_flight_; }
  std::size_t waiting() const noexcept { return waiting_count_; }
  std::size_t limit() const noexcept { return limit_; }

 private:
  bool admit(GatedJob& job) noexcept;
  static void wake_workers(TurnHook& hook) noexcept;

  WorkerPool& pool_;
  Mailbox& mailbox_;
  Reactor& reactor_;
  const std::size_t limit_;
  std::size_t in_flight_ = 0;
  std::size_t waiting_count_ = 0;
  std::size_t submitted_this_turn_ = 0;
  IntrusiveList<GatedJob> waiting_;
  struct WakeHook : TurnHook {
    explicit WakeHook(OffloadGate& g) noexcept : TurnHook(&OffloadGate::wake_workers), gate(g) {}
    OffloadGate& gate;
  } wake_hook_{*this};
};

inline std::exception_ptr cancelled_offload() noexcept {
  return std::make_exception_ptr(std::system_error(std::make_error_code(std::errc::operation_canceled),
                                                   "offload: the runtime stopped before the call ran"));
}

// A call awaited by a coroutine.
template <class F>
struct AwaitedJob final : GatedJob {
  using R = std::invoke_result_t<F&>;

  explicit AwaitedJob(F&& f) : fn(std::move(f)) {
    run = &AwaitedJob::run_on_worker;
    deliver = &AwaitedJob::deliver_on_core;
    drop = &AwaitedJob::drop_on_core;
  }

  static AwaitedJob& of(RemoteCompletion& c) noexcept { return static_cast<AwaitedJob&>(static_cast<OffloadJob&>(c)); }
  static void run_on_worker(OffloadJob& job) noexcept {
    auto& self = static_cast<AwaitedJob&>(job);
    self.outcome.capture(self.fn);
  }
  static void deliver_on_core(RemoteCompletion& c) noexcept {
    AwaitedJob& self = of(c);
    self.gate->finished();
    if (self.abandoned) {
      delete &self;
      return;
    }
    if (self.cancelled) self.outcome.set_exception(cancelled_offload());
    self.state = OffloadState::done;
    self.waiter.resume();
  }
  static void drop_on_core(RemoteCompletion& c) noexcept {
    AwaitedJob& self = of(c);
    if (self.abandoned) {
      delete &self;
      return;
    }
    self.state = OffloadState::done;  // its frame is destroyed with the reactor; the awaiter frees the job
  }
  // The awaiter goes away (normally after resuming; earlier if its frame is destroyed while suspended).
  void release_from_awaiter() noexcept {
    switch (state) {
      case OffloadState::waiting: gate->withdraw(*this); [[fallthrough]];
      case OffloadState::created:
      case OffloadState::done: delete this; return;
      case OffloadState::submitted: abandoned = true; return;  // freed when it comes back
    }
  }

  F fn;
  Outcome<R> outcome;
  std::coroutine_handle<> waiter;
  bool abandoned = false;
};

// A call whose result goes to a callback on the calling core.
template <class F, class C>
struct CallbackJob final : GatedJob {
  using R = std::invoke_result_t<F&>;

  CallbackJob(F&& f, C&& c) : fn(std::move(f)), done(std::move(c)) {
    run = &CallbackJob::run_on_worker;
    deliver = &CallbackJob::deliver_on_core;
    drop = &CallbackJob::drop_on_core;
  }

  static CallbackJob& of(RemoteCompletion& c) noexcept { return static_cast<CallbackJob&>(static_cast<OffloadJob&>(c)); }
  static void run_on_worker(OffloadJob& job) noexcept {
    auto& self = static_cast<CallbackJob&>(job);
    self.outcome.capture(self.fn);
  }
  static void deliver_on_core(RemoteCompletion& c) noexcept {
    CallbackJob& self = of(c);
    self.gate->finished();
    if (self.cancelled) self.outcome.set_exception(cancelled_offload());
    try {
      self.done(self.outcome.take_expected());
    } catch (const std::exception& e) {  // no exception crosses a loop turn
      self.gate_log().error("offload callback ended by exception: {}", e.what());
    } catch (...) {
      self.gate_log().error("offload callback ended by a non-standard exception");
    }
    delete &self;
  }
  static void drop_on_core(RemoteCompletion& c) noexcept { delete &of(c); }
  Logger& gate_log() noexcept { return origin->reactor().log(); }

  F fn;
  C done;
  Outcome<R> outcome;
};

}  // namespace detail

// co_await runtime.offload(fn): see the top of this file.
template <class F>
class [[nodiscard]] OffloadAwaitable {
  using Job = detail::AwaitedJob<F>;

 public:
  using result_type = typename Job::R;

  explicit OffloadAwaitable(F&& fn) : job_(new Job(std::move(fn))) {}
  OffloadAwaitable(OffloadAwaitable&& other) noexcept : job_(std::exchange(other.job_, nullptr)) {}
  OffloadAwaitable& operator=(OffloadAwaitable&&) = delete;
  ~OffloadAwaitable() {
    if (job_ != nullptr) job_->release_from_awaiter();
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> waiter) {
    detail::CoreBinding* here = detail::current_core();
    if (here == nullptr || here->offload == nullptr) throw std::logic_error("offload: not on a runtime core");
    job_->waiter = waiter;
    here->offload->submit(*job_);
  }
  result_type await_resume() { return job_->outcome.take(); }

 private:
  Job* job_;
};

namespace detail {
template <class F, class C>
void offload_with_callback(F&& fn, C&& done) {
  CoreBinding* here = current_core();
  if (here == nullptr || here->offload == nullptr) throw std::logic_error("offload: not on a runtime core");
  using Job = CallbackJob<std::decay_t<F>, std::decay_t<C>>;
  auto* job = new Job(std::decay_t<F>(std::forward<F>(fn)), std::decay_t<C>(std::forward<C>(done)));
  here->offload->submit(*job);
}
}  // namespace detail

}  // namespace rfarm

// Runtime: one reactor per core, share-nothing, with explicit messages between cores (Seastar's model).
//
//     auto runtime = rfarm::Runtime::create({.threads = 4, .pin = true}).value();
//     for (unsigned c = 0; c < runtime->core_count(); ++c)
//       runtime->post(c, [] { rfarm::this_reactor().spawn(serve_this_core()); });
//     runtime->run();   // starts every core and returns when they stop (shutdown on SIGINT / SIGTERM)
//
// Each core is a thread the runtime owns, optionally pinned to a CPU, running its own Reactor (its own
// backend instance, buffer pool and timer heap: ReactorOptions apply to each). The reactor is created and
// destroyed on its core's thread, so everything made from it (sockets, timers, spawned frames) is destroyed
// there too. Nothing on the hot path is shared: a core talks to another only by message.
//
// Threads and lifecycle. create() starts the core threads and builds each core's reactor on its thread;
// the loops wait for start(). start() lets them run and returns; stop() (any thread, idempotent) makes every
// loop return after its current turn; join() waits for that. run() is start() then join(). After join() the
// runtime may be started again: the reactors, their sockets and pending work are kept. The destructor stops
// and joins, then tears down on each core's thread: messages never run are destroyed, then the reactor.
// The calling thread is never a core (unlike Seastar's, whose main thread becomes core 0): the runtime can
// then be started, stopped and joined, with a bounded wait, from a thread that is no reactor (a test's, or a
// main() that only waits), and every core has the same life from its first to its last instruction.
//
// Messages. post(core, fn) runs fn on that core in a coming turn. From a core it goes through the lock-free
// queue of that ordered pair of cores (mailbox.hpp): in order per pair, published in batches, at most one
// wake-up per batch. From any other thread it goes through the target reactor's locked post() (order per
// sending thread). co_await submit_to(core, fn) runs fn there and returns its result (or rethrows its
// exception) on the calling core (submit_to.hpp).
//
// Blocking work. co_await offload(fn) runs fn on a pool of worker threads and resumes on the calling core;
// bounded per core with backpressure, batched both ways (offload.hpp).
//
// Shutdown and signals. shutdown(deadline) stops every core's acceptors, lets connections drain up to the
// deadline, closes the rest and stops the runtime (shutdown.hpp has the guards that register them). With
// handle_signals, SIGINT and SIGTERM are blocked in every runtime thread (create() blocks them in the calling
// thread first, so threads inherit the mask; create the runtime before other threads) and read by core 0's
// signalfd, once for the process: the first one starts shutdown(shutdown_deadline); a second one ends the
// process at once with _exit(128 + signal), as a shell reports a death by that signal. The second signal does
// not wait for anything: what blocks a graceful exit (a peer that never closes, an offloaded call stuck in a
// syscall) would block a second, "faster" graceful exit too.
#pragma once

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include <signal.h>

#include "lib/error.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/runtime/core_binding.hpp"
#include "reactor/runtime/mailbox.hpp"
#include "reactor/runtime/offload.hpp"
#include "reactor/runtime/submit_to.hpp"

namespace rfarm {

struct RuntimeOptions {
  // Reactor threads; 0: one per CPU this process may run on (sched_getaffinity).
  unsigned threads = 0;
  // Pin core i to the i-th CPU of the process's affinity mask (wrapping if there are more cores than CPUs).
  bool pin = true;
  // Every core's reactor (backend, spin mode, buffer pool sizes, log).
  ReactorOptions reactor{};

  // Offload worker threads; 0: as many as cores.
  unsigned workers = 0;
  // Offloaded calls one core may have in flight; more wait on their core (backpressure).
  std::size_t offload_limit = 1024;

  // Slots of the queue between each ordered pair of cores (64 bytes each, allocated when the pair first
  // talks); a full queue spills into the sender's overflow, never blocks.
  std::size_t queue_capacity = 256;
  // Messages a core runs from one source per turn, so a flood from one core cannot starve I/O.
  std::size_t batch_limit = 256;
  CrossCoreWake wake = CrossCoreWake::automatic;

  // SIGINT / SIGTERM: first → shutdown(shutdown_deadline), second → _exit(128 + signal). See above.
  bool handle_signals = true;
  Duration shutdown_deadline = std::chrono::seconds(10);
};

class Runtime {
 public:
  // Starts the core threads and their reactors (loops not running yet) and the worker pool. Fails with the
  // first error a core met (Reactor::create's, or EINVAL from pinning to a CPU the process may not use).
  static Result<std::unique_ptr<Runtime>> create(RuntimeOptions options = {});
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  // Stops, joins, tears down every core on its own thread, and restores the caller's signal mask. Must not
  // run on a core.
  ~Runtime();

  // Lets every core's loop run; returns at once. operation_in_progress if already started and not joined.
  std::error_code start();
  // start() then join(): returns when the runtime stops (stop(), a finished shutdown(), a signal).
  std::error_code run();
  // Any thread, any time: every loop returns after its current turn. A no-op unless running.
  void stop() noexcept;
  // Waits until every core's loop has returned (after stop() or a finished shutdown()). Not from a core.
  void join();
  // As join(), at most timeout; false if some core still runs.
  bool join_for(Duration timeout);

  // Graceful shutdown (shutdown.hpp), from any thread; the second call is a no-op. The runtime stops once
  // every core has drained or closed what was left at the deadline; join() then returns.
  void shutdown(Duration deadline);
  void shutdown() { shutdown(options_.shutdown_deadline); }

  unsigned core_count() const noexcept { return static_cast<unsigned>(cores_.size()); }
  // Core core's reactor. Use it only on that core (or for Reactor::post / stop from elsewhere).
  Reactor& reactor(unsigned core) const noexcept;
  // The CPU core is pinned to, if pinned.
  std::optional<int> cpu_of(unsigned core) const noexcept;
  const RuntimeOptions& options() const noexcept { return options_; }

  // Runs fn() on core in a coming turn (see the top of this file for ordering).
  template <class F>
  void post(unsigned core, F&& fn);

  // co_await runtime.submit_to(core, fn): fn's result on the calling core (submit_to.hpp). From a core.
  template <class F>
  SubmitAwaitable<std::decay_t<F>> submit_to(unsigned core, F&& fn) {
    return SubmitAwaitable<std::decay_t<F>>(core, std::decay_t<F>(std::forward<F>(fn)));
  }

  // co_await runtime.offload(fn), and offload(fn, done) with done(OffloadResult<R>) (offload.hpp). From a core.
  template <class F>
  OffloadAwaitable<std::decay_t<F>> offload(F&& fn) {
    return OffloadAwaitable<std::decay_t<F>>(std::decay_t<F>(std::forward<F>(fn)));
  }
  template <class F, class C>
  void offload(F&& fn, C&& done) {
    detail::offload_with_callback(std::forward<F>(fn), std::forward<C>(done));
  }

  // Counters of one core, for tests, benchmarks and diagnostics (any thread; exact once the core is idle).
  struct CoreStats {
    std::uint64_t messages_run = 0;     // cross-core messages run on this core
    std::uint64_t completions_run = 0;  // offloaded calls delivered back to this core
    std::uint64_t wakeups = 0;          // times another thread woke this core from a blocking wait
    std::uint64_t overflowed = 0;       // messages this core sent that waited in its overflow (full queue)
  };
  CoreStats stats(unsigned core) const noexcept;
  // The offload backlog of the calling core (must be a core): calls in flight and calls held back.
  std::size_t offloads_in_flight() const noexcept;
  std::size_t offloads_waiting() const noexcept;

 private:
  struct Core;
  enum class Phase : std::uint8_t { idle, running, stopping };

  explicit Runtime(const RuntimeOptions& options);
  std::error_code launch(unsigned threads, const std::vector<int>& cpus);
  void core_main(Core& core) noexcept;
  std::error_code prepare_core(Core& core);
  void install_signal_handlers(Core& core);
  void core_drained() noexcept;
  void post_from_outside(unsigned core, std::move_only_function<void()> fn);
  void tear_down() noexcept;

  RuntimeOptions options_;
  std::vector<std::unique_ptr<Core>> cores_;
  std::vector<detail::Mailbox*> mailboxes_;  // mailboxes_[i] is core i's; the routes' peer table
  std::unique_ptr<detail::WorkerPool> workers_;

  // Lifecycle, under control_mutex_ (cold path only).
  std::mutex control_mutex_;
  std::condition_variable control_cv_;
  Phase phase_ = Phase::idle;
  std::uint64_t run_generation_ = 0;  // bumped by start(): each core runs its loop once per generation
  unsigned cores_ready_ = 0;          // built their reactor (or failed: first_error_)
  unsigned cores_stopped_ = 0;        // loops returned in this generation
  bool tearing_down_ = false;
  std::optional<std::barrier<>> teardown_barrier_;  // every mailbox closed before any core drops its messages
  std::error_code first_error_;

  std::atomic<bool> shutdown_requested_{false};
  std::atomic<unsigned> cores_drained_{0};
  unsigned signals_seen_ = 0;  // core 0 only

  bool restore_signal_mask_ = false;
  sigset_t caller_signal_mask_{};
  std::thread::id creator_;
};

// The calling thread's core index, or kNotACore off the runtime's cores.
inline constexpr unsigned kNotACore = ~0u;
unsigned this_core() noexcept;
// The calling core's reactor. Precondition: called on a runtime core.
Reactor& this_reactor() noexcept;
// The runtime the calling core belongs to, or nullptr off the runtime's cores.
Runtime* this_runtime() noexcept;

template <class F>
void Runtime::post(unsigned core, F&& fn) {
  detail::CoreBinding* here = detail::current_core();
  if (here != nullptr && here->runtime == this) {
    here->mailbox->send(core, std::forward<F>(fn));
  } else {
    post_from_outside(core, std::move_only_function<void()>(std::forward<F>(fn)));
  }
}

}  // namespace rfarm

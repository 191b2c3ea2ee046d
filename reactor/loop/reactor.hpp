// Reactor: one event loop per thread.
//
// A Reactor owns an I/O backend (epoll or io_uring), a timer heap, a signal set and a pool of receive buffers.
// Everything that touches it runs on its thread; other threads reach it only through post() and stop().
//
//     auto reactor = rfarm::Reactor::create().value();
//     reactor->after(100ms, [&] { reactor->stop(); });
//     reactor->run();
//
// Coroutines: reactor->spawn(task) runs a Task<void> detached; reactor->block_on(task) runs the loop until
// the task finishes and returns its result (handy in main() and tests).
//
// Timers measure their delay from the moment they are made (after, every, Timer::start, sleep), even when
// that is long after the turn began.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "lib/buffer_pool.hpp"
#include "lib/error.hpp"
#include "lib/inplace_function.hpp"
#include "lib/intrusive_list.hpp"
#include "lib/log.hpp"
#include "lib/task.hpp"
#include "reactor/backend/detail/backend.hpp"
#include "reactor/loop/handle_kind.hpp"
#include "reactor/loop/timer_heap.hpp"

namespace rfarm {

using Clock = detail::Clock;
using Duration = std::chrono::nanoseconds;

struct ReactorOptions {
  // Which I/O backend; automatic consults RFARM_BACKEND (create() fails with invalid_argument on a value it
  // does not know), then prefers io_uring and falls back to epoll.
  BackendKind backend = BackendKind::automatic;

  // Latency mode: before blocking, poll the backend for up to this long. A sleep/wake-up round trip costs
  // tens of microseconds on a VM; spinning trades CPU for latency. The window adapts: it shrinks while
  // spinning finds nothing, so an idle loop still sleeps. Zero disables it.
  std::chrono::microseconds spin{0};

  // Receive buffers leased by recv_pooled() (epoll) and by buffered streams.
  std::size_t receive_buffer_size = 16 * 1024;
  std::size_t receive_buffers_cached = 1024;

  // io_uring: submission queue size and the most buffers the provided-buffer ring grows to (power of two).
  unsigned uring_entries = 4096;
  unsigned uring_buffer_ring_entries = 4096;

  // Where log lines go; default: stderr at the level RFARM_LOG names (warn).
  std::optional<LogLevel> log_level{};
  Logger::Sink log_sink{};
};

// Identifies a timer made by after() / every(); 0 is never a valid id.
using TimerId = std::uint64_t;

class Reactor;

namespace detail {
// Work that other threads hand to this reactor without a lock: the runtime's cross-core mailbox
// (reactor/runtime/mailbox.hpp) implements it. The reactor runs it once per turn, polls it while spinning,
// and announces a blocking wait to it, so that a producer knows when it must wake the loop (Reactor::wake)
// and when the loop will find its work anyway. Reactor::post stays the general, locked path.
class RemoteInbox {
 public:
  virtual ~RemoteInbox() = default;
  // Runs a bounded batch of what arrived. Called once per turn, after timers and posted work.
  virtual void run() noexcept = 0;
  // Cheap and lock-free: whether run() has something to do (the loop then does not block).
  virtual bool ready() const noexcept = 0;
  // Before a blocking wait: from now on producers wake the loop. False if work arrived meanwhile, and the
  // wait becomes a poll.
  virtual bool announce_sleep() noexcept = 0;
  // After the wait: producers need not wake the loop any more.
  virtual void end_sleep() noexcept = 0;
};

// Where a spawned task reports that it finished (its promise's join): the reactor logs an exception that
// ended it, forgets it and destroys its frame. The task's own frame is all that spawning allocates.
struct SpawnJoin : TaskJoin {
  Reactor* reactor = nullptr;
};
}  // namespace detail

// A timer owned by its caller (embed it in a connection object): starting it allocates nothing.
// Not movable; destroying it cancels it.
class Timer : private detail::TimerNode {
 public:
  explicit Timer(Reactor& reactor) noexcept;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  ~Timer();

  // (Re)arms the timer; a pending expiry is replaced. The callback runs once; it may start the timer again
  // (with a new callback) or destroy the timer's owner.
  void start(Duration delay, InplaceFunction<void()> callback);
  void cancel() noexcept;
  bool armed() const noexcept { return TimerNode::armed(); }

 private:
  static void on_expiry(detail::TimerNode& node) noexcept;
  Reactor* reactor_;
  InplaceFunction<void()> callback_;
};

// Readiness notifications for a descriptor the reactor does not own (level-triggered: the callback runs
// every loop turn while the descriptor is ready). Not movable; destroying it stops watching.
class ReadinessWatch : private detail::Watcher {
 public:
  explicit ReadinessWatch(Reactor& reactor) noexcept;
  ReadinessWatch(const ReadinessWatch&) = delete;
  ReadinessWatch& operator=(const ReadinessWatch&) = delete;
  ~ReadinessWatch();

  // events: POLLIN / POLLOUT / POLLPRI; the callback receives the ready events (POLLERR / POLLHUP too).
  std::error_code start(int fd, std::uint32_t events, InplaceFunction<void(std::uint32_t)> callback);
  std::error_code modify(std::uint32_t events);
  void stop() noexcept;
  bool active() const noexcept { return Watcher::active; }

 private:
  static void on_ready(detail::Watcher& w, std::uint32_t revents) noexcept;
  Reactor* reactor_;
  InplaceFunction<void(std::uint32_t)> callback_;
};

// Work to run once at the end of the current loop turn (after all completions of the turn), e.g. flushing
// every frame queued during the turn in one send. Owned by its caller; scheduling it twice is a no-op. A hook
// scheduled while the hooks run (by a hook, or by a completion one caused) runs in the same turn, after them.
struct TurnHook : ListHook {
  using RunFn = void (*)(TurnHook&) noexcept;
  explicit TurnHook(RunFn fn) noexcept : run(fn) {}
  TurnHook(const TurnHook&) = delete;
  TurnHook& operator=(const TurnHook&) = delete;
  ~TurnHook() {
    if (linked()) IntrusiveList<TurnHook>::unlink(*this);
  }
  RunFn run;
};

class Reactor {
 public:
  static Result<std::unique_ptr<Reactor>> create(ReactorOptions options = {});
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;
  // Destroys still-suspended spawned tasks, then posted work that never ran and the callbacks of timers that
  // never fired (the sockets they own close), then the backend. Everything else made from the reactor
  // (sockets, Timer, ReadinessWatch, Resolver) must be destroyed before it, as in libuv and Asio: each would
  // use the destroyed reactor when it goes. Debug builds (NDEBUG unset: debug, debugoptimized and the
  // sanitizer builds) check it here: with any such handle still alive the destructor says how many of which
  // kind and aborts, where the mistake is made rather than at the use-after-free that follows.
  ~Reactor();

  // Runs until stop(), hands the backend's queued requests to the kernel (closes made in the last turn take
  // effect), then clears the stop request. A stop() made before run() ends it after one turn.
  void run();
  // One loop turn: waits at most max_wait for I/O (negative: until something happens), then runs the
  // completions, expired timers, posted work and end-of-turn hooks. Returns false once stop() was called
  // (the request stays set: a loop of run_once() calls keeps seeing it until run() or block_on() clears it).
  bool run_once(Duration max_wait = Duration(-1));
  // Makes run() return after the current turn, and block_on() throw. Any thread.
  void stop() noexcept;
  bool stopping() const noexcept { return stop_requested_.load(std::memory_order_relaxed); }

  // Runs fn on the reactor's thread in a coming turn. Any thread; wakes the loop.
  void post(std::move_only_function<void()> fn);
  // Interrupts a blocking wait (or makes the next one return at once). Any thread; for lock-free producers
  // (RemoteInbox) that publish work themselves and only need the loop to look.
  void wake() noexcept { backend_->wake(); }

  // Installs the lock-free inbox this reactor polls every turn (null removes it). One at a time; the
  // reactor's thread, while the loop is not running.
  void set_remote_inbox(detail::RemoteInbox* inbox) noexcept { remote_inbox_ = inbox; }

  // Timers owned by the reactor. O(log n); thousands are cheap.
  TimerId after(Duration delay, std::move_only_function<void()> fn);
  TimerId every(Duration period, std::move_only_function<void()> fn);
  // True if the timer was pending and now never fires.
  bool cancel(TimerId id) noexcept;

  // Calls fn(signo) from the loop whenever signo arrives (via signalfd). The signal is blocked for the
  // calling thread: set handlers up before starting other threads, so they inherit the mask.
  std::error_code on_signal(int signo, std::move_only_function<void(int)> fn);

  // Coroutines.
  void spawn(Task<void> task);
  // Runs the loop until task finishes; returns its result or rethrows its exception. It first clears any
  // stop request made before the call (one a run_once() loop already saw must not end the next piece of
  // work). A stop() while it runs ends it: it throws std::runtime_error and leaves the request set (a run()
  // after it returns after one turn and clears it).
  template <class T>
  T block_on(Task<T> task);

  // co_await reactor.sleep(10ms);
  auto sleep(Duration delay) noexcept;

  // The time at the start of this turn, or when the latest timer was made if that is later (cheap; never
  // goes backwards). A timer's deadline is the clock at the call plus its delay, not this plus the delay.
  Clock::time_point now() const noexcept { return now_; }
  Logger& log() noexcept { return log_; }
  BackendKind backend_kind() const noexcept { return backend_->kind(); }
  // Why the reactor runs on epoll although it tried io_uring first (backend uring, or automatic, which
  // prefers it): the error io_uring setup gave, e.g. EPERM from kernel.io_uring_disabled or seccomp,
  // ENOSYS, or Errc::backend_unavailable for a missing feature. Empty when the backend it tried first is the
  // one in use, and when epoll was asked for (in the options or by RFARM_BACKEND under automatic).
  //     if (auto why = reactor->backend_fallback_reason()) log("on epoll: {}", why.message());
  std::error_code backend_fallback_reason() const noexcept { return backend_fallback_reason_; }
  BufferPool& receive_pool() noexcept { return receive_pool_; }

  void at_end_of_turn(TurnHook& hook) noexcept {
    if (!hook.linked()) turn_hooks_.push_back(hook);
  }

  // Handles of a kind made from this reactor and not yet gone (an open socket counts until it is closed).
  // Counted in debug builds only: always 0 when NDEBUG is set. Any thread.
  std::size_t live_handles(HandleKind kind) const noexcept {
    return live_handles_[static_cast<std::size_t>(kind)].load(std::memory_order_relaxed);
  }
  // For the objects counted above (their constructors and destructors); no-ops when NDEBUG is set.
  void note_handle_made([[maybe_unused]] HandleKind kind) noexcept {
#ifndef NDEBUG
    live_handles_[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
#endif
  }
  void note_handle_gone([[maybe_unused]] HandleKind kind) noexcept {
#ifndef NDEBUG
    live_handles_[static_cast<std::size_t>(kind)].fetch_sub(1, std::memory_order_relaxed);
#endif
  }

  // Loop statistics, for tests and diagnostics.
  struct Stats {
    std::uint64_t turns = 0;
    std::uint64_t blocking_waits = 0;
    std::uint64_t spin_polls = 0;
  };
  const Stats& stats() const noexcept { return stats_; }

  // For the socket layer.
  detail::Backend& backend() noexcept { return *backend_; }
  detail::CompletionQueue& completions() noexcept { return completions_; }
  // A delay past the clock's range (Duration::max() is how callers say "no limit") saturates: never fires.
  void add_timer(detail::TimerNode& node, Duration delay) {
    Clock::time_point now = refresh_now();
    timers_.insert(node, delay >= Clock::time_point::max() - now ? Clock::time_point::max() : now + delay);
  }
  void add_timer_at(detail::TimerNode& node, Clock::time_point deadline) { timers_.insert(node, deadline); }
  void remove_timer(detail::TimerNode& node) noexcept { timers_.remove(node); }

 private:
  struct OwnedTimer;
  class SignalSet;

  explicit Reactor(const ReactorOptions& options);
  std::error_code init(const ReactorOptions& options);

  // A timer made after slow work in this turn must not count that work as part of its delay. The clock is
  // steady, so now() only moves forward.
  Clock::time_point refresh_now() noexcept {
    now_ = Clock::now();
    return now_;
  }

  Duration next_timeout(Duration max_wait) const noexcept;
  std::size_t poll_backend(Duration timeout);
  void fire_expired_timers() noexcept;
  void run_posted();
  bool remote_work_ready() const noexcept { return remote_inbox_ != nullptr && remote_inbox_->ready(); }
  void finish_turn() noexcept;
  // Passes of finish_turn: completions, then the hooks scheduled so far. Deep enough for the longest chain in
  // the tree (a frame reader's delivery, a connection's flush, its SendQueue's send, a TLS record's flush).
  static constexpr unsigned kTurnEndPasses = 8;
  void drop_pending_callbacks() noexcept;
  void check_no_live_handles() noexcept;
  TimerId add_owned_timer(Duration delay, Duration period, std::move_only_function<void()> fn);
  static void fire_owned_timer(detail::TimerNode& node) noexcept;
  static std::coroutine_handle<> finish_spawned(detail::TaskJoin& join, detail::TaskPromiseBase& finished) noexcept;
  void forget_spawned(std::uint32_t slot) noexcept;

  Logger log_;
  BufferPool receive_pool_;
  detail::CompletionQueue completions_;
  std::unique_ptr<detail::Backend> backend_;
  std::error_code backend_fallback_reason_;
  detail::TimerHeap timers_;
  Clock::time_point now_;

  std::vector<std::unique_ptr<OwnedTimer>> owned_timers_;  // slab; ids carry a generation
  std::vector<std::uint32_t> free_timer_slots_;

  IntrusiveList<TurnHook> turn_hooks_;
  // The spawned tasks still running, so that the reactor can destroy the frames still suspended when it goes
  // away (closing their sockets) instead of leaking them. Each task's promise knows its index (spawn_slot):
  // 8 bytes per task here instead of a registration frame or a list hook in every task's frame.
  std::vector<std::coroutine_handle<detail::TaskPromise<void>>> spawned_;
  detail::SpawnJoin spawn_join_;
  std::unique_ptr<SignalSet> signals_;
  detail::RemoteInbox* remote_inbox_ = nullptr;

  std::mutex posted_mutex_;
  std::vector<std::move_only_function<void()>> posted_;
  std::vector<std::move_only_function<void()>> running_posted_;
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> blocking_{false};  // the loop is in, or entering, a blocking wait: post() must wake it
  std::atomic<bool> stop_requested_{false};

  // Present in every build so that the layout does not depend on NDEBUG; only debug builds count.
  std::array<std::atomic<std::size_t>, kHandleKinds> live_handles_{};

  std::chrono::nanoseconds spin_max_{0};
  std::chrono::nanoseconds spin_window_{0};
  Stats stats_;
};

// co_await reactor.sleep(d): resumes after d; the timer lives in the coroutine frame.
class SleepAwaitable : private detail::TimerNode {
 public:
  SleepAwaitable(Reactor& reactor, Duration delay) noexcept
      : TimerNode(&SleepAwaitable::on_expiry), reactor_(reactor), delay_(delay) {
    reactor_.note_handle_made(HandleKind::timer);
  }
  ~SleepAwaitable() {
    reactor_.remove_timer(*this);
    reactor_.note_handle_gone(HandleKind::timer);
  }
  bool await_ready() const noexcept { return delay_.count() <= 0; }
  void await_suspend(std::coroutine_handle<> waiter) {
    waiter_ = waiter;
    reactor_.add_timer(*this, delay_);
  }
  void await_resume() const noexcept {}

 private:
  static void on_expiry(detail::TimerNode& node) noexcept;
  Reactor& reactor_;
  Duration delay_;
  std::coroutine_handle<> waiter_;
};

inline auto Reactor::sleep(Duration delay) noexcept { return SleepAwaitable(*this, delay); }

// Inline, after Reactor: counting costs nothing where NDEBUG is set.
inline Timer::Timer(Reactor& reactor) noexcept : TimerNode(&Timer::on_expiry), reactor_(&reactor) {
  reactor.note_handle_made(HandleKind::timer);
}
inline Timer::~Timer() {
  cancel();
  reactor_->note_handle_gone(HandleKind::timer);
}
inline ReadinessWatch::~ReadinessWatch() {
  stop();
  reactor_->note_handle_gone(HandleKind::watch);
}

template <class T>
T Reactor::block_on(Task<T> task) {
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> value;
  auto runner = [](Task<T> inner, auto& out) -> Task<void> {
    if constexpr (std::is_void_v<T>) {
      co_await std::move(inner);
      out.emplace(true);
    } else {
      out.emplace(co_await std::move(inner));
    }
  }(std::move(task), value);
  stop_requested_.store(false, std::memory_order_relaxed);
  runner.handle().resume();
  while (!runner.done() && run_once()) {
  }
  if (!runner.done()) throw std::runtime_error("Reactor::block_on: stopped before the task finished");
  runner.handle().promise().take();  // rethrows the task's exception
  if constexpr (!std::is_void_v<T>) return std::move(*value);
}

}  // namespace rfarm

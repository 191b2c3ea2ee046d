#include "reactor/loop/reactor.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cassert>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <stdexcept>

namespace rfarm {

// ---------------------------------------------------------------------------------------------------------
// Timers owned by the reactor (after / every). Slots are reused; an id is (generation << 32 | slot + 1), so a
// stale id never cancels the slot's next occupant.

struct Reactor::OwnedTimer : detail::TimerNode {
  explicit OwnedTimer(Reactor* r) noexcept : TimerNode(&Reactor::fire_owned_timer), reactor(r) {}
  Reactor* reactor;
  std::uint32_t slot = 0;
  std::uint32_t generation = 0;
  Duration period{0};
  std::move_only_function<void()> fn;
  bool firing = false;  // a periodic fn is running (it may cancel its own timer)

  TimerId id() const noexcept { return (static_cast<TimerId>(generation) << 32) | (slot + 1); }
};

TimerId Reactor::add_owned_timer(Duration delay, Duration period, std::move_only_function<void()> fn) {
  std::uint32_t slot;
  if (!free_timer_slots_.empty()) {
    slot = free_timer_slots_.back();
    free_timer_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(owned_timers_.size());
    owned_timers_.push_back(std::make_unique<OwnedTimer>(this));
    owned_timers_.back()->slot = slot;
  }
  OwnedTimer& t = *owned_timers_[slot];
  t.period = period;
  t.fn = std::move(fn);
  add_timer(t, delay);
  return t.id();
}

TimerId Reactor::after(Duration delay, std::move_only_function<void()> fn) {
  return add_owned_timer(delay, Duration(0), std::move(fn));
}

TimerId Reactor::every(Duration period, std::move_only_function<void()> fn) {
  return add_owned_timer(period, period.count() > 0 ? period : Duration(1), std::move(fn));
}

bool Reactor::cancel(TimerId id) noexcept {
  std::uint64_t slot_plus_one = id & 0xffffffffu;
  if (slot_plus_one == 0 || slot_plus_one > owned_timers_.size()) return false;
  OwnedTimer& t = *owned_timers_[slot_plus_one - 1];
  if (t.id() != id || !t.fn) return false;
  timers_.remove(t);
  ++t.generation;
  // Destroying fn now would destroy the callback that is running (and its captures): fire_owned_timer frees
  // the slot once fn has returned, seeing the generation change.
  if (t.firing) return true;
  t.fn = nullptr;
  free_timer_slots_.push_back(t.slot);
  return true;
}

void Reactor::fire_owned_timer(detail::TimerNode& node) noexcept {
  auto& t = static_cast<OwnedTimer&>(node);
  Reactor& r = *t.reactor;
  if (t.period.count() > 0) {
    // Re-arm before the call, so the callback may cancel its own timer. Deadlines advance by the period
    // (no drift: not measured from the clock like a new timer), but never into the past: a stalled loop
    // fires once, not once per missed period.
    r.timers_.insert(t, std::max(t.deadline + t.period, r.now_));
    const std::uint32_t generation = t.generation;
    t.firing = true;
    t.fn();
    t.firing = false;
    if (t.generation != generation) {  // the callback cancelled its own timer
      t.fn = nullptr;
      r.free_timer_slots_.push_back(t.slot);
    }
    return;
  }
  std::move_only_function<void()> fn = std::move(t.fn);
  t.fn = nullptr;
  ++t.generation;
  r.free_timer_slots_.push_back(t.slot);
  fn();
}

// ---------------------------------------------------------------------------------------------------------
// Caller-owned timers and sleeps.

void Timer::start(Duration delay, InplaceFunction<void()> callback) {
  cancel();
  callback_ = std::move(callback);
  reactor_->add_timer(*this, delay);
}

void Timer::cancel() noexcept { reactor_->remove_timer(*this); }

void Timer::on_expiry(detail::TimerNode& node) noexcept {
  // The callback runs from a local: it may re-arm this timer with a new callback, or destroy the object that
  // owns the timer, without overwriting or freeing the closure that is running.
  InplaceFunction<void()> callback = std::move(static_cast<Timer&>(node).callback_);
  callback();
}

void SleepAwaitable::on_expiry(detail::TimerNode& node) noexcept { static_cast<SleepAwaitable&>(node).waiter_.resume(); }

// ---------------------------------------------------------------------------------------------------------
// Readiness watches.

ReadinessWatch::ReadinessWatch(Reactor& reactor) noexcept : reactor_(&reactor) {
  Watcher::notify = &ReadinessWatch::on_ready;
  reactor.note_handle_made(HandleKind::watch);
}

std::error_code ReadinessWatch::start(int fd, std::uint32_t events, InplaceFunction<void(std::uint32_t)> callback) {
  stop();
  this->fd = fd;
  this->events = events;
  callback_ = std::move(callback);
  return reactor_->backend().add_watch(*this);
}

std::error_code ReadinessWatch::modify(std::uint32_t events) {
  this->events = events;
  return reactor_->backend().modify_watch(*this);
}

void ReadinessWatch::stop() noexcept { reactor_->backend().remove_watch(*this); }

void ReadinessWatch::on_ready(detail::Watcher& w, std::uint32_t revents) noexcept {
  static_cast<ReadinessWatch&>(w).callback_(revents);
}

// ---------------------------------------------------------------------------------------------------------
// Signals: one signalfd per reactor, its mask grown as handlers are added.

class Reactor::SignalSet {
 public:
  explicit SignalSet(Reactor& reactor) : watch_(reactor) { sigemptyset(&mask_); }
  ~SignalSet() {
    watch_.stop();
    if (fd_ >= 0) ::close(fd_);
  }

  std::error_code add(int signo, std::move_only_function<void(int)> fn) {
    if (signo <= 0 || signo >= NSIG) return std::make_error_code(std::errc::invalid_argument);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signo);
    if (int err = ::pthread_sigmask(SIG_BLOCK, &one, nullptr)) return errno_code(err);
    sigaddset(&mask_, signo);
    int fd = ::signalfd(fd_, &mask_, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return last_errno();
    if (fd_ < 0) {
      fd_ = fd;
      if (std::error_code ec = watch_.start(fd_, POLLIN, [this](std::uint32_t) { drain(); })) return ec;
    }
    handlers_.resize(std::max<std::size_t>(handlers_.size(), static_cast<std::size_t>(signo) + 1));
    handlers_[static_cast<std::size_t>(signo)] = std::move(fn);
    return {};
  }

 private:
  void drain() noexcept {
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      auto signo = static_cast<std::size_t>(info.ssi_signo);
      if (signo < handlers_.size() && handlers_[signo]) handlers_[signo](static_cast<int>(signo));
    }
  }

  ReadinessWatch watch_;
  sigset_t mask_;
  int fd_ = -1;
  std::vector<std::move_only_function<void(int)>> handlers_;
};

std::error_code Reactor::on_signal(int signo, std::move_only_function<void(int)> fn) {
  if (!signals_) signals_ = std::make_unique<SignalSet>(*this);
  return signals_->add(signo, std::move(fn));
}

// ---------------------------------------------------------------------------------------------------------
// Spawned coroutines: the task's own promise registers it (spawn_slot, join), so the task runs in its own
// frame and nothing else is allocated; when it finishes, finish_spawned logs what ended it and destroys it.

void Reactor::spawn(Task<void> task) {
  auto frame = task.release();
  assert(frame);
  auto& promise = frame.promise();
  promise.join = &spawn_join_;
  promise.spawn_slot = static_cast<std::uint32_t>(spawned_.size());
  spawned_.push_back(frame);
  frame.resume();
}

std::coroutine_handle<> Reactor::finish_spawned(detail::TaskJoin& join, detail::TaskPromiseBase& finished) noexcept {
  Reactor& self = *static_cast<detail::SpawnJoin&>(join).reactor;
  auto& promise = static_cast<detail::TaskPromise<void>&>(finished);
  if (std::exception_ptr failure = promise.failure()) {
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      self.log_.error("spawned task ended by exception: {}", e.what());
    } catch (...) {
      self.log_.error("spawned task ended by a non-standard exception");
    }
  }
  self.forget_spawned(promise.spawn_slot);
  // The frame is suspended at its final suspend point (this runs from its await_suspend): destroying it here
  // is what a final_suspend of suspend_never would do.
  std::coroutine_handle<detail::TaskPromise<void>>::from_promise(promise).destroy();
  return std::noop_coroutine();
}

// Swap-remove: the last task takes the slot and learns its new index.
void Reactor::forget_spawned(std::uint32_t slot) noexcept {
  auto last = spawned_.back();
  spawned_.pop_back();
  if (slot < spawned_.size()) {
    spawned_[slot] = last;
    last.promise().spawn_slot = slot;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Construction and the loop.

Result<std::unique_ptr<Reactor>> Reactor::create(ReactorOptions options) {
  std::unique_ptr<Reactor> reactor(new Reactor(options));
  if (std::error_code ec = reactor->init(options)) return fail(ec);
  return reactor;
}

Reactor::Reactor(const ReactorOptions& options)
    : receive_pool_(options.receive_buffer_size, options.receive_buffers_cached), now_(Clock::now()) {
  if (options.log_level) log_.set_level(*options.log_level);
  if (options.log_sink) log_.set_sink(options.log_sink);
  spin_max_ = options.spin;
  spin_window_ = options.spin;
  spawn_join_.arrive = &Reactor::finish_spawned;
  spawn_join_.reactor = this;
}

std::error_code Reactor::init(const ReactorOptions& options) {
  BackendKind kind = options.backend;
  if (kind == BackendKind::automatic) {
    // Empty counts as unset (RFARM_BACKEND= in a script). Anything else unknown is refused: a misspelt
    // "epol" silently running on io_uring would measure the wrong backend.
    if (const char* env = std::getenv("RFARM_BACKEND"); env != nullptr && *env != '\0') {
      auto parsed = parse_backend_kind(env);
      if (!parsed) {
        log_.error("RFARM_BACKEND={}: unknown backend (accepted: epoll, uring, auto)", env);
        return std::make_error_code(std::errc::invalid_argument);
      }
      kind = *parsed;
    }
  }
  detail::BackendContext context{completions_, receive_pool_, log_, options.uring_entries,
                                 options.uring_buffer_ring_entries};
  if (kind == BackendKind::uring || kind == BackendKind::automatic) {
    auto uring = detail::make_uring_backend(context);
    if (uring) {
      backend_ = std::move(*uring);
      return {};
    }
    // Said once per reactor: the kernel, a sysctl (kernel.io_uring_disabled) or seccomp refused io_uring.
    backend_fallback_reason_ = uring.error();
    if (kind == BackendKind::uring)
      log_.warn("io_uring backend unavailable ({}); falling back to epoll", uring.error().message());
    else
      log_.info("io_uring backend unavailable ({}); using epoll", uring.error().message());
  }
  auto epoll = detail::make_epoll_backend(context);
  if (!epoll) return epoll.error();
  backend_ = std::move(*epoll);
  return {};
}

Reactor::~Reactor() {
  // Destroying a suspended frame runs its destructors: sockets close, pending operations are abandoned.
  while (!spawned_.empty()) {
    auto frame = spawned_.back();  // forgotten first: its destructors may spawn another task
    spawned_.pop_back();
    frame.destroy();
  }
  // So may the callbacks that never ran: reactor.post([conn = std::move(conn)] {...}) owns a socket, and a
  // socket closes through the backend. They go now, while the backend exists, not with the members after it.
  drop_pending_callbacks();
  signals_.reset();
  completions_.run();  // completions of what those closes cancelled, for operations that outlive the frames
#ifndef NDEBUG
  check_no_live_handles();
#endif
  backend_.reset();
}

// Debug builds: whatever was made from this reactor and is still alive would use it when it goes (a socket's
// close reaches the backend, a Timer's cancel the timer heap, a watch's stop the backend): say what, and stop
// here instead of at that use-after-free.
void Reactor::check_no_live_handles() noexcept {
  static constexpr const char* kNames[kHandleKinds] = {"open socket(s)", "open listener(s)",
                                                       "Timer(s) or sleep(s)", "ReadinessWatch(es)"};
  std::string alive;
  for (std::size_t kind = 0; kind < kHandleKinds; ++kind) {
    const std::size_t n = live_handles_[kind].load(std::memory_order_relaxed);
    if (n == 0) continue;
    if (!alive.empty()) alive += ", ";
    alive += std::to_string(n) + " " + kNames[kind];
  }
  if (alive.empty()) return;
  std::fprintf(stderr,
               "rfarm: ~Reactor: %s made from this reactor still alive; each would use the destroyed reactor when "
               "it goes: destroy them (or close the sockets) before the reactor\n",
               alive.c_str());
  std::fflush(stderr);
  std::abort();
}

void Reactor::drop_pending_callbacks() noexcept {
  // A destructor may post or add a timer in turn: loop until nothing is left.
  for (;;) {
    std::vector<std::move_only_function<void()>> dropped;
    {
      std::lock_guard lock(posted_mutex_);
      dropped.swap(posted_);
    }
    // Indexed, not iterated: a dropped callback's destructor may add a timer (and grow the slab).
    bool dropped_timer = false;
    for (std::size_t i = 0; i < owned_timers_.size(); ++i) {
      if (!owned_timers_[i]->fn) continue;
      [[maybe_unused]] auto fn = std::exchange(owned_timers_[i]->fn, nullptr);  // destroyed right here
      dropped_timer = true;
    }
    if (dropped.empty() && !dropped_timer) return;
  }
}

void Reactor::run() {
  while (run_once()) {
  }
  // The last turn's closes and cancels (io_uring SQEs) reach the kernel now, not at the next run: a peer
  // must see its connection closed although this loop stopped.
  backend_->flush();
  stop_requested_.store(false, std::memory_order_relaxed);
}

void Reactor::stop() noexcept {
  stop_requested_.store(true, std::memory_order_relaxed);
  if (!wake_pending_.exchange(true)) backend_->wake();
}

void Reactor::post(std::move_only_function<void()> fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  // One wake-up per batch of posts (the loop clears the flag before it takes the batch), and only for a loop that
  // is in, or entering, a blocking wait: a running loop sees the flag before it next waits (poll_backend), so a
  // post into a busy loop costs neither side a syscall. Sequentially consistent against poll_backend's store of
  // blocking_ and load of wake_pending_: either this load sees the loop blocking, or the loop sees the flag.
  if (!wake_pending_.exchange(true, std::memory_order_seq_cst) && blocking_.load(std::memory_order_seq_cst))
    backend_->wake();
}

Duration Reactor::next_timeout(Duration max_wait) const noexcept {
  if (!completions_.empty() || !turn_hooks_.empty() || stopping() || remote_work_ready() ||
      wake_pending_.load(std::memory_order_relaxed))
    return Duration(0);
  Duration timeout = max_wait;
  if (!timers_.empty()) {
    Duration until = timers_.top().deadline - Clock::now();
    if (until.count() < 0) until = Duration(0);
    if (timeout.count() < 0 || until < timeout) timeout = until;
  }
  return timeout;
}

std::size_t Reactor::poll_backend(Duration timeout) {
  if (timeout.count() != 0 && spin_max_.count() > 0) {
    // Latency mode: poll without blocking for up to the spin window (never past the next timer).
    Clock::time_point start = Clock::now();
    Duration budget = spin_window_;
    if (timeout.count() > 0 && timeout < budget) budget = timeout;
    do {
      ++stats_.spin_polls;
      if (std::size_t n = backend_->wait(Duration(0))) {
        spin_window_ = spin_max_;  // spinning pays: keep the full window
        return n;
      }
      if (remote_work_ready() || wake_pending_.load(std::memory_order_acquire)) {
        spin_window_ = spin_max_;  // another core's message or a post: as good as an event for the window
        return 0;
      }
      if (!completions_.empty() || stopping()) return 0;
      // Spinning must not keep a CPU from a thread that is ready to run: on a machine with fewer CPUs than busy
      // threads (a client's engine beside its caller, servers beside their clients), the thread this loop is
      // waiting for may be that one, and the scheduler would otherwise let it wait out the whole spin window.
      // With nothing else runnable on this CPU, sched_yield returns at once.
      ::sched_yield();
    } while (Clock::now() - start < budget);
    // Nothing came: halve the window (down to 1/16 of the maximum) so an idle loop spins little.
    spin_window_ = std::max(spin_window_ / 2, spin_max_ / 16);
    if (timeout.count() > 0) timeout -= std::min(timeout, Clock::now() - start);
  }
  // A lock-free producer wakes the loop only once it has announced that it will block (one wake-up per
  // burst, not per message); work that arrived before the announcement turns the wait into a poll.
  const bool announced = timeout.count() != 0 && remote_inbox_ != nullptr;
  if (announced && !remote_inbox_->announce_sleep()) timeout = Duration(0);
  // Likewise post(): it wakes the loop only once blocking_ says it may be asleep; a post made before that turns
  // the wait into a poll.
  const bool blocking = timeout.count() != 0;
  if (blocking) {
    blocking_.store(true, std::memory_order_seq_cst);
    if (wake_pending_.load(std::memory_order_seq_cst)) timeout = Duration(0);
  }
  if (timeout.count() != 0) ++stats_.blocking_waits;
  std::size_t n = backend_->wait(timeout);
  if (blocking) blocking_.store(false, std::memory_order_relaxed);
  if (announced) remote_inbox_->end_sleep();
  return n;
}

bool Reactor::run_once(Duration max_wait) {
  ++stats_.turns;
  poll_backend(next_timeout(max_wait));
  now_ = Clock::now();
  fire_expired_timers();
  run_posted();
  if (remote_inbox_ != nullptr) remote_inbox_->run();
  finish_turn();
  return !stopping();
}

void Reactor::fire_expired_timers() noexcept {
  // Only timers due at the start of this pass: one re-armed for "now" waits for the next turn.
  const Clock::time_point now = now_;
  while (detail::TimerNode* node = timers_.pop_expired(now)) node->fire(*node);
}

void Reactor::run_posted() {
  if (!wake_pending_.load(std::memory_order_acquire)) return;
  wake_pending_.store(false, std::memory_order_release);
  {
    std::lock_guard lock(posted_mutex_);
    running_posted_.swap(posted_);
  }
  for (auto& fn : running_posted_) fn();
  running_posted_.clear();
}

// The turn's last phase: deferred completions and end-of-turn hooks, until neither has anything left. A hook
// often schedules another (the farm kernel's dispatch queues frames, and the connection's SendQueue flushes them in
// a hook of its own), and a send that finished at once reports through the completion queue: both run in this
// turn, not on the next, so a frame never waits for an extra poll before it leaves and a finished send does not
// make the next wait a poll. Bounded: what the last pass schedules (a hook that keeps rescheduling itself) waits
// for the next turn, whose wait is then a poll.
void Reactor::finish_turn() noexcept {
  for (unsigned pass = 0; pass < kTurnEndPasses; ++pass) {
    completions_.run();
    if (turn_hooks_.empty()) {
      if (completions_.empty()) return;
      continue;
    }
    IntrusiveList<TurnHook> batch;
    batch.splice_back(turn_hooks_);
    while (!batch.empty()) {
      TurnHook& hook = batch.pop_front();
      hook.run(hook);
    }
  }
}

}  // namespace rfarm

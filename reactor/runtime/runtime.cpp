#include "reactor/runtime/runtime.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <barrier>
#include <cstdio>
#include <string>

#include "reactor/runtime/shutdown.hpp"

namespace rfarm {

namespace detail {
namespace {
thread_local CoreBinding* bound_core = nullptr;
}  // namespace

CoreBinding* current_core() noexcept { return bound_core; }
void bind_current_core(CoreBinding* binding) noexcept { bound_core = binding; }
}  // namespace detail

unsigned this_core() noexcept {
  detail::CoreBinding* here = detail::current_core();
  return here != nullptr ? here->core : kNotACore;
}

Reactor& this_reactor() noexcept { return *detail::current_core()->reactor; }

Runtime* this_runtime() noexcept {
  detail::CoreBinding* here = detail::current_core();
  return here != nullptr ? here->runtime : nullptr;
}

struct Runtime::Core {
  unsigned index = 0;
  std::optional<int> cpu;
  std::thread thread;
  std::unique_ptr<detail::Mailbox> mailbox;  // made before the threads start: every core needs every peer
  std::unique_ptr<Reactor> reactor;          // the rest is made and destroyed on the core's own thread
  std::unique_ptr<detail::ShutdownRegistry> shutdown;
  std::unique_ptr<detail::OffloadGate> offload;
  detail::CoreBinding binding;
};

namespace {

// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

std::error_code pin_this_thread(int cpu) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int err = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set)) return errno_code(err);
  return {};
}

}  // namespace

Result<std::unique_ptr<Runtime>> Runtime::create(RuntimeOptions options) {
  const std::vector<int> cpus = allowed_cpus();
  const unsigned threads = options.threads != 0 ? options.threads : static_cast<unsigned>(cpus.size());
  std::unique_ptr<Runtime> runtime(new Runtime(options));
  if (options.handle_signals) {
    // Before any runtime thread exists, so they all inherit the blocked mask and the signals stay pending
    // for core 0's signalfd instead of killing the process.
    sigset_t mask;
    ::sigemptyset(&mask);
    ::sigaddset(&mask, SIGINT);
    ::sigaddset(&mask, SIGTERM);
    if (int err = ::pthread_sigmask(SIG_BLOCK, &mask, &runtime->caller_signal_mask_)) return fail(errno_code(err));
    runtime->restore_signal_mask_ = true;
    runtime->creator_ = std::this_thread::get_id();
  }
  if (std::error_code ec = runtime->launch(threads, cpus)) return fail(ec);  // the destructor cleans up
  return runtime;
}

Runtime::Runtime(const RuntimeOptions& options) : options_(options) {}

std::error_code Runtime::launch(unsigned threads, const std::vector<int>& cpus) {
  cores_.reserve(threads);
  mailboxes_.assign(threads, nullptr);
  const detail::MailboxOptions mailbox_options{options_.queue_capacity, options_.batch_limit, options_.wake};
  for (unsigned i = 0; i < threads; ++i) {
    auto core = std::make_unique<Core>();
    core->index = i;
    if (options_.pin) core->cpu = cpus[i % cpus.size()];
    core->mailbox = std::make_unique<detail::Mailbox>(i, std::span<detail::Mailbox* const>(mailboxes_), mailbox_options);
    mailboxes_[i] = core->mailbox.get();
    cores_.push_back(std::move(core));
  }
  // Room for every core's limit: a core never finds the queue full while under its own limit.
  auto pool = detail::WorkerPool::create(options_.workers != 0 ? options_.workers : threads,
                                         std::size_t{threads} * std::max<std::size_t>(options_.offload_limit, 1));
  if (!pool) return pool.error();
  workers_ = std::move(*pool);

  unsigned started = 0;
  try {
    for (auto& core : cores_) {
      core->thread = std::thread([this, c = core.get()] { core_main(*c); });
      ++started;
    }
  } catch (const std::system_error& e) {
    std::lock_guard lock(control_mutex_);
    first_error_ = e.code();
  }
  std::unique_lock lock(control_mutex_);
  control_cv_.wait(lock, [&] { return cores_ready_ == started; });
  return first_error_;
}

std::error_code Runtime::prepare_core(Core& core) {
  const std::string name = "rfarm-core-" + std::to_string(core.index);
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
  if (core.cpu)
    if (std::error_code ec = pin_this_thread(*core.cpu)) return ec;
  auto reactor = Reactor::create(options_.reactor);
  if (!reactor) return reactor.error();
  core.reactor = std::move(*reactor);
  core.mailbox->attach(*core.reactor);
  core.shutdown = std::make_unique<detail::ShutdownRegistry>(*core.reactor);
  core.offload = std::make_unique<detail::OffloadGate>(*workers_, *core.mailbox, *core.reactor, options_.offload_limit);
  core.binding = {this, core.index, core.reactor.get(), core.mailbox.get(), core.offload.get(), core.shutdown.get()};
  if (core.index == 0 && options_.handle_signals) install_signal_handlers(core);
  return {};
}

void Runtime::install_signal_handlers(Core& core) {
  auto on_signal = [this](int signo) {
    if (++signals_seen_ == 1) {
      this_reactor().log().info("signal {}: shutting down (deadline {} ms); again to exit at once", signo,
                                std::chrono::duration_cast<std::chrono::milliseconds>(options_.shutdown_deadline).count());
      shutdown(options_.shutdown_deadline);
      return;
    }
    static constexpr char kMessage[] = "rfarm: second signal, exiting at once\n";
    [[maybe_unused]] ssize_t r = ::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(128 + signo);
  };
  for (int signo : {SIGINT, SIGTERM})
    if (std::error_code ec = core.reactor->on_signal(signo, on_signal))
      core.reactor->log().error("runtime: cannot watch signal {}: {}", signo, ec.message());
}

void Runtime::core_main(Core& core) noexcept {
  detail::bind_current_core(&core.binding);
  const std::error_code ec = prepare_core(core);
  {
    std::lock_guard lock(control_mutex_);
    if (ec && !first_error_) first_error_ = ec;
    ++cores_ready_;
  }
  control_cv_.notify_all();

  std::uint64_t generation = 0;
  for (;;) {
    {
      std::unique_lock lock(control_mutex_);
      control_cv_.wait(lock, [&] { return tearing_down_ || run_generation_ != generation; });
      if (tearing_down_) break;
      generation = run_generation_;
    }
    core.shutdown->reset();
    if (core.index == 0) signals_seen_ = 0;
    core.reactor->run();
    {
      std::lock_guard lock(control_mutex_);
      ++cores_stopped_;
    }
    control_cv_.notify_all();
  }

  // Teardown: every loop has ended and the workers are joined. Once every mailbox is closed (the barrier),
  // nothing can reach this core any more: drop what never ran, then what was built on this thread.
  core.mailbox->close();
  teardown_barrier_->arrive_and_wait();
  core.mailbox->drop_pending();
  core.offload.reset();
  core.shutdown.reset();
  core.reactor.reset();  // spawned frames, sockets, timers: destroyed here, on their thread
  detail::bind_current_core(nullptr);
}

std::error_code Runtime::start() {
  {
    std::lock_guard lock(control_mutex_);
    if (phase_ != Phase::idle) return make_error_code(Errc::operation_in_progress);
    phase_ = Phase::running;
    cores_stopped_ = 0;
    ++run_generation_;
    shutdown_requested_.store(false, std::memory_order_relaxed);
    cores_drained_.store(0, std::memory_order_relaxed);
  }
  control_cv_.notify_all();
  return {};
}

std::error_code Runtime::run() {
  if (std::error_code ec = start()) return ec;
  join();
  return {};
}

void Runtime::stop() noexcept {
  std::lock_guard lock(control_mutex_);
  if (phase_ != Phase::running) return;
  phase_ = Phase::stopping;
  for (auto& core : cores_) core->reactor->stop();
}

void Runtime::join() {
  std::unique_lock lock(control_mutex_);
  control_cv_.wait(lock, [&] { return phase_ == Phase::idle || cores_stopped_ == cores_.size(); });
  phase_ = Phase::idle;
}

bool Runtime::join_for(Duration timeout) {
  std::unique_lock lock(control_mutex_);
  if (!control_cv_.wait_for(lock, timeout, [&] { return phase_ == Phase::idle || cores_stopped_ == cores_.size(); }))
    return false;
  phase_ = Phase::idle;
  return true;
}

void Runtime::shutdown(Duration deadline) {
  if (shutdown_requested_.exchange(true, std::memory_order_acq_rel)) return;
  const Clock::time_point at = Clock::now() + deadline;
  for (unsigned c = 0; c < core_count(); ++c)
    post(c, [this, c, at] { cores_[c]->shutdown->begin(at, [this] { core_drained(); }); });
}

void Runtime::core_drained() noexcept {
  if (cores_drained_.fetch_add(1, std::memory_order_acq_rel) + 1 == core_count()) stop();
}

void Runtime::post_from_outside(unsigned core, std::move_only_function<void()> fn) {
  cores_[core]->reactor->post(std::move(fn));
}

Reactor& Runtime::reactor(unsigned core) const noexcept { return *cores_[core]->reactor; }

std::optional<int> Runtime::cpu_of(unsigned core) const noexcept { return cores_[core]->cpu; }

Runtime::CoreStats Runtime::stats(unsigned core) const noexcept {
  const detail::Mailbox::Stats s = cores_[core]->mailbox->stats();
  return {s.messages_run, s.completions_run, s.wakeups, s.overflowed};
}

std::size_t Runtime::offloads_in_flight() const noexcept { return detail::current_core()->offload->in_flight(); }
std::size_t Runtime::offloads_waiting() const noexcept { return detail::current_core()->offload->waiting(); }

Runtime::~Runtime() { tear_down(); }

void Runtime::tear_down() noexcept {
  stop();
  {
    std::unique_lock lock(control_mutex_);
    control_cv_.wait(lock, [&] { return phase_ != Phase::stopping || cores_stopped_ == cores_.size(); });
    phase_ = Phase::idle;
  }
  if (workers_) workers_->stop();  // queued calls go back to their cores' mailboxes, dropped below
  std::ptrdiff_t threads = 0;
  for (auto& core : cores_)
    if (core->thread.joinable()) ++threads;
  {
    std::lock_guard lock(control_mutex_);
    teardown_barrier_.emplace(threads);
    tearing_down_ = true;
  }
  control_cv_.notify_all();
  for (auto& core : cores_)
    if (core->thread.joinable()) core->thread.join();
  workers_.reset();
  cores_.clear();  // mailboxes (and the routes into them) last: every thread that used them is gone
  if (restore_signal_mask_ && creator_ == std::this_thread::get_id())
    ::pthread_sigmask(SIG_SETMASK, &caller_signal_mask_, nullptr);
}

}  // namespace rfarm

#include "farm/client/kernel.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "farm/client/spin_wait.hpp"
#include "farm/tasks/content_hash.hpp"

namespace rfarm::farm {

namespace detail {

// How a Future reaches the engine to cancel its task: outlives the engine (a future may outlive its kernel);
// close() unhooks it first.
struct CancelPort {
  std::mutex mutex;
  Reactor* reactor = nullptr;  // null before start and after close
  KernelCore* core = nullptr;
  std::thread::id engine_thread{};

  bool request(const std::weak_ptr<ResultSink>& sink) {
    std::unique_lock lock(mutex);
    if (reactor == nullptr || sink.expired()) return false;  // expired: a Future's record finished
    if (std::this_thread::get_id() == engine_thread) {
      KernelCore* c = core;
      lock.unlock();  // the sink's continuations may cancel other futures
      auto strong = sink.lock();
      return strong && c->cancel(strong.get());
    }
    reactor->post([c = core, sink] {
      if (auto strong = sink.lock()) c->cancel(strong.get());  // held: its address names it while cancel looks
    });
    return true;
  }
};

// The engine thread: a reactor, the KernelCore on it, and the inbox other threads fill.
struct Engine {
  KernelOptions options;
  std::thread thread;
  Reactor* reactor = nullptr;  // owned by the thread
  KernelCore* core = nullptr;  // likewise
  const std::atomic<std::size_t>* ready = nullptr;
  std::shared_ptr<CancelPort> cancel_port = std::make_shared<CancelPort>();

  std::mutex inbox_mutex;
  std::condition_variable space;  // a producer waits here while unsent tasks are at the bound
  std::vector<TaskRecord> inbox;
  // drain()'s batch: swapped with the inbox, so each keeps the capacity it grew to instead of regrowing (and
  // moving every record) on each hand-off.
  std::vector<TaskRecord> draining;
  bool drain_posted = false;
  bool closed = false;
  KernelStats last_stats;  // the last stats() snapshot, what stats() returns once closed (inbox_mutex)
  std::thread::id engine_thread{};

  // Backpressure: tasks handed to the kernel and not yet sent = the inbox + the core's pending queue. The core's
  // share is published from the engine thread (drain adds what it takes at once, so the sum is never
  // underestimated); producers wait while the sum is at options.max_unsent.
  std::atomic<std::size_t> core_unsent{0};
  std::atomic<std::size_t> waiting_producers{0};
  std::size_t max_unsent_seen = 0;  // under inbox_mutex

  void run(std::promise<std::error_code>& started) {
    engine_thread = std::this_thread::get_id();
    ReactorOptions reactor_options;
    reactor_options.backend = options.backend;
    reactor_options.spin = options.spin;
    reactor_options.log_level = options.log_level;
    auto created = Reactor::create(reactor_options);  // here: an io_uring ring belongs to its submitting thread
    if (!created) {
      started.set_value(created.error());
      return;
    }
    std::unique_ptr<Reactor> owned = std::move(*created);
    auto core_owned = std::make_unique<KernelCore>(*owned, options);
    if (std::error_code ec = core_owned->start()) {
      started.set_value(ec);
      return;
    }
    core_owned->on_unsent_changed([this](std::size_t n) { publish_core_unsent(n); });
    reactor = owned.get();
    core = core_owned.get();
    ready = &core->ready_counter();
    {
      std::lock_guard lock(cancel_port->mutex);
      cancel_port->reactor = reactor;
      cancel_port->core = core;
      cancel_port->engine_thread = engine_thread;
    }
    started.set_value({});
    owned->run();
    core_owned.reset();  // connections (sockets, timers) before their reactor
    owned.reset();
  }

  std::size_t bound() const noexcept { return std::max<std::size_t>(options.max_unsent, 1); }
  // Under inbox_mutex.
  std::size_t unsent_locked() const noexcept { return inbox.size() + core_unsent.load(); }
  std::size_t room_locked() const noexcept {
    std::size_t used = unsent_locked();
    return used >= bound() ? 0 : bound() - used;
  }

  // Engine thread: the core's pending count changed.
  void publish_core_unsent(std::size_t n) {
    core_unsent.store(n);  // seq_cst, paired with waiting_producers (see wait_for_room)
    if (waiting_producers.load() == 0) return;
    std::lock_guard lock(inbox_mutex);
    max_unsent_seen = std::max(max_unsent_seen, unsent_locked());
    space.notify_all();
  }

  // Under lock: waits until there is room (or the kernel closed). On the engine thread (a continuation that
  // submits) it never waits: the engine is what makes room.
  void wait_for_room(std::unique_lock<std::mutex>& lock) {
    if (std::this_thread::get_id() == engine_thread) return;
    if (closed || room_locked() > 0) return;
    waiting_producers.fetch_add(1);
    space.wait(lock, [&] { return closed || room_locked() > 0; });
    waiting_producers.fetch_sub(1);
  }

  // Under lock: appends records[from, from + n) and wakes the engine if the inbox was empty.
  bool append_locked(std::vector<TaskRecord>& records, std::size_t from, std::size_t n) {
    bool was_empty = inbox.empty();
    if (was_empty && from == 0 && n == records.size() && n > inbox.capacity()) {  // a batch: take its storage
      inbox = std::move(records);
    } else {
      inbox.reserve(inbox.size() + n);
      std::move(records.begin() + static_cast<std::ptrdiff_t>(from),
                records.begin() + static_cast<std::ptrdiff_t>(from + n), std::back_inserter(inbox));
    }
    max_unsent_seen = std::max(max_unsent_seen, unsent_locked());
    return !std::exchange(drain_posted, true);
  }

  void fail_closed(std::vector<TaskRecord>& records, std::size_t from) {
    for (std::size_t i = from; i < records.size(); ++i)
      records[i].finish(std::unexpected(RemoteFailure{FailureKind::cancelled, "the kernel closed", records[i].task}));
  }

  // Any thread: queue records, waiting for room as needed (in chunks: a batch larger than the bound goes in as
  // room appears). The first into an empty inbox wakes the engine.
  void enqueue(std::vector<TaskRecord>&& records) {
    std::size_t done = 0;
    while (done < records.size()) {
      bool post = false;
      {
        std::unique_lock lock(inbox_mutex);
        wait_for_room(lock);
        if (closed) {
          lock.unlock();
          fail_closed(records, done);
          return;
        }
        std::size_t room = std::this_thread::get_id() == engine_thread ? records.size() - done : room_locked();
        std::size_t n = std::min(room, records.size() - done);
        post = append_locked(records, done, n);
        done += n;
      }
      if (post) reactor->post([this] { drain(); });
    }
  }

  // Under lock: appends one record and says whether the engine must be woken (the inbox was not yet posted).
  bool append_one_locked(TaskRecord&& record) {
    inbox.push_back(std::move(record));
    max_unsent_seen = std::max(max_unsent_seen, unsent_locked());
    return !std::exchange(drain_posted, true);
  }

  // Any thread: one record, as enqueue (without a vector of one to allocate per task).
  void enqueue_one(TaskRecord&& record) {
    bool post = false;
    {
      std::unique_lock lock(inbox_mutex);
      wait_for_room(lock);
      if (closed) {
        lock.unlock();
        record.finish(std::unexpected(RemoteFailure{FailureKind::cancelled, "the kernel closed", record.task}));
        return;
      }
      post = append_one_locked(std::move(record));
    }
    if (post) reactor->post([this] { drain(); });
  }

  // Any thread: queue one record if there is room; Errc::would_block (the record stays with the caller) if not.
  std::error_code try_enqueue(TaskRecord& record) {
    bool post = false;
    {
      std::lock_guard lock(inbox_mutex);
      if (closed) return make_error_code(std::errc::operation_canceled);
      if (room_locked() == 0 && std::this_thread::get_id() != engine_thread)
        return make_error_code(std::errc::resource_unavailable_try_again);
      post = append_one_locked(std::move(record));
    }
    if (post) reactor->post([this] { drain(); });
    return {};
  }

  // Engine thread.
  void drain() {
    {
      std::lock_guard lock(inbox_mutex);
      draining.swap(inbox);
      drain_posted = false;
      core_unsent.fetch_add(draining.size());  // in the core now; dispatch publishes the exact count
    }
    for (auto& r : draining) {
      if (r.broadcast) core->broadcast(std::move(r));
      else core->submit(std::move(r));
    }
    draining.clear();
  }

  void close() {
    {
      std::lock_guard lock(inbox_mutex);
      if (closed) return;
      closed = true;
      space.notify_all();  // blocked producers: their tasks fail (cancelled)
    }
    {
      std::lock_guard lock(cancel_port->mutex);  // cancels posted before this run before the shutdown below
      cancel_port->reactor = nullptr;
      cancel_port->core = nullptr;
    }
    if (thread.joinable()) {
      reactor->post([this] {
        drain();  // what was queued before close fails like the rest
        core->shutdown([this] { reactor->stop(); });
      });
      thread.join();
    }
  }
};

// Collects a broadcast's answers for a waiting thread.
class BroadcastSink final : public ResultSink {
 public:
  explicit BroadcastSink(std::chrono::microseconds spin) noexcept : spin_(spin) {}
  // The waiting thread is woken once, when the last answer is in (or a failure came before any fan-out), not
  // once per server: each futile wake-up is a futex round trip and a context switch on the broadcast's path.
  void fanned_out(std::uint64_t, std::size_t copies) override {
    std::lock_guard lock(mutex_);
    expected_ = copies;
    fanned_ = true;
    if (finished_locked()) done_.notify_all();
  }
  void complete(std::uint64_t, RemoteResult result) override {
    std::lock_guard lock(mutex_);
    results_.push_back(std::move(result));
    if (finished_locked()) done_.notify_all();
  }
  // Every answer, or nullopt after timeout.
  std::optional<std::vector<RemoteResult>> wait(Duration timeout) {
    std::unique_lock lock(mutex_);
    bool all = spin_until(lock, spin_, [&] { return finished_locked(); }) ||
               done_.wait_for(lock, timeout, [&] { return finished_locked(); });
    if (!all) return std::nullopt;
    return std::move(results_);
  }

 private:
  std::chrono::microseconds spin_;  // KernelOptions::spin: look before sleeping (spin_wait.hpp)

  bool finished_locked() const noexcept {
    return (fanned_ && results_.size() >= expected_) || (!fanned_ && !results_.empty());  // failed before fan-out
  }

  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t expected_ = 0;
  bool fanned_ = false;
  std::vector<RemoteResult> results_;
};

// Collects a load_module's outcomes for a waiting thread.
class ModuleWaitSink final : public ModuleSink {
 public:
  void fanned_out(std::size_t copies) override {
    std::lock_guard lock(mutex_);
    expected_ = copies;
    fanned_ = true;
    done_.notify_all();
  }
  void outcome(ModuleOutcome outcome) override {
    std::lock_guard lock(mutex_);
    outcomes_.push_back(std::move(outcome));
    done_.notify_all();
  }
  std::optional<std::vector<ModuleOutcome>> wait(Duration timeout) {
    std::unique_lock lock(mutex_);
    if (!done_.wait_for(lock, timeout, [&] { return fanned_ && outcomes_.size() >= expected_; })) return std::nullopt;
    return std::move(outcomes_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t expected_ = 0;
  bool fanned_ = false;
  std::vector<ModuleOutcome> outcomes_;
};

}  // namespace detail

Result<Kernel> Kernel::start(KernelOptions options) {
  auto engine = std::make_unique<detail::Engine>();
  engine->options = std::move(options);
  std::promise<std::error_code> started;
  std::future<std::error_code> ready = started.get_future();
  detail::Engine* e = engine.get();
  engine->thread = std::thread([e, &started] { e->run(started); });
  if (std::error_code ec = ready.get()) {
    engine->thread.join();
    return fail(ec);
  }
  return Kernel(std::move(engine));
}

Kernel::Kernel(std::unique_ptr<detail::Engine> engine) noexcept : engine_(std::move(engine)) {}
Kernel::Kernel(Kernel&&) noexcept = default;
Kernel& Kernel::operator=(Kernel&& other) noexcept {
  if (this != &other) {
    close();
    engine_ = std::move(other.engine_);
  }
  return *this;
}
Kernel::~Kernel() { close(); }

void Kernel::close() {
  if (engine_) engine_->close();
}

const KernelOptions& Kernel::options() const noexcept { return engine_->options; }

TaskRecord Kernel::make_record(std::string_view task, std::vector<std::uint8_t> args, const TaskPolicy& policy,
                               std::shared_ptr<ResultSink> sink, std::uint64_t tag) {
  TaskRecord r;
  r.task = std::string(task);
  r.args = std::move(args);
  r.policy = policy;
  r.sink = std::move(sink);
  r.tag = tag;
  return r;
}

void Kernel::submit_one(TaskRecord record) { engine_->enqueue_one(std::move(record)); }

void Kernel::submit_many(std::vector<TaskRecord> records) { engine_->enqueue(std::move(records)); }

std::error_code Kernel::try_submit_one(TaskRecord& record) { return engine_->try_enqueue(record); }

std::function<bool()> Kernel::canceller(std::weak_ptr<ResultSink> sink) const {
  return [port = engine_->cancel_port, sink = std::move(sink)] { return port->request(sink); };
}

std::vector<RemoteResult> Kernel::broadcast_encoded(std::string_view task, std::vector<std::uint8_t> args) {
  auto sink = std::make_shared<detail::BroadcastSink>(options().spin);
  TaskRecord r = make_record(task, std::move(args), options().default_policy, sink, 0);
  r.broadcast = true;
  if (r.policy.fail_after.count() == 0) r.policy.fail_after = options().call_timeout;
  submit_one(std::move(r));
  auto results = sink->wait(options().call_timeout);
  if (!results) {
    return {std::unexpected(RemoteFailure{FailureKind::deadline_exceeded,
                                          "not every server answered the broadcast in time", std::string(task)})};
  }
  return std::move(*results);
}

FarmResult<std::vector<ModuleOutcome>> Kernel::load_module(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec(errno != 0 ? errno : ENOENT, std::generic_category());
    return fail_with(ec, fmt::format("module {}: cannot read: {}", path, ec.message()));
  }
  auto bytes = std::make_shared<std::vector<std::byte>>();
  for (char buffer[64 * 1024]; in.read(buffer, sizeof buffer) || in.gcount() > 0;) {
    auto* first = reinterpret_cast<const std::byte*>(buffer);
    bytes->insert(bytes->end(), first, first + in.gcount());
  }
  auto sha = sha256_hex(ConstBytes(*bytes));
  if (!sha) return fail_with(sha.error(), "SHA-256: " + sha.error().message());
  auto sink = std::make_shared<detail::ModuleWaitSink>();
  auto shipment = std::make_shared<ModuleShipment>();
  shipment->name = std::filesystem::path(path).filename().string();
  shipment->sha256 = std::move(*sha);
  shipment->bytes = std::move(bytes);
  shipment->sink = sink;
  shipment->give_up = Clock::now() + options().call_timeout;
  {
    std::lock_guard lock(engine_->inbox_mutex);
    if (engine_->closed) return fail_with(make_error_code(std::errc::operation_canceled), "the kernel closed");
    engine_->reactor->post([core = engine_->core, shipment] { core->load_module(std::move(*shipment)); });
  }
  auto outcomes = sink->wait(options().call_timeout);
  if (!outcomes)
    return fail_with(make_error_code(Errc::timed_out), fmt::format("module {}: not every server answered within {} ms", path,
                     std::chrono::duration_cast<std::chrono::milliseconds>(options().call_timeout).count()));
  return std::move(*outcomes);
}

bool Kernel::wait_ready(std::size_t n, Duration timeout) const {
  Clock::time_point until = Clock::now() + timeout;
  for (;;) {
    if (engine_->ready->load(std::memory_order_relaxed) >= n) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

KernelStats Kernel::stats() const {
  std::promise<KernelStats> p;
  auto f = p.get_future();
  // Posted under the inbox lock, so close() (which sets `closed` under it and then posts the shutdown) cannot
  // have destroyed the engine's reactor; after close the last snapshot stands.
  std::unique_lock guard(engine_->inbox_mutex);
  if (engine_->closed) return engine_->last_stats;
  engine_->reactor->post([&] {
    // One snapshot: on the engine thread the core's pending queue cannot change while the inbox is locked.
    KernelStats s = engine_->core->stats();
    std::lock_guard lock(engine_->inbox_mutex);
    s.unsent = engine_->inbox.size() + s.pending;
    s.max_unsent = engine_->max_unsent_seen;
    engine_->last_stats = s;
    p.set_value(s);
  });
  guard.unlock();
  return f.get();
}

}  // namespace rfarm::farm

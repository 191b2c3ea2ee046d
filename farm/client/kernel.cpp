#include "farm/client/kernel.hpp"

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <utility>

namespace rfarm::farm {

namespace detail {

// The engine thread: a reactor, the KernelCore on it, and the inbox other threads fill.
struct Engine {
  KernelOptions options;
  std::thread thread;
  Reactor* reactor = nullptr;  // owned by the thread
  KernelCore* core = nullptr;  // likewise
  const std::atomic<std::size_t>* ready = nullptr;

  std::mutex inbox_mutex;
  std::vector<TaskRecord> inbox;
  bool drain_posted = false;
  bool closed = false;

  void run(std::promise<std::error_code>& started) {
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
    reactor = owned.get();
    core = core_owned.get();
    ready = &core->ready_counter();
    started.set_value({});
    owned->run();
    core_owned.reset();  // connections (sockets, timers) before their reactor
    owned.reset();
  }

  // Any thread: queue records; the first into an empty inbox wakes the engine.
  void enqueue(std::vector<TaskRecord>&& records) {
    bool post = false;
    {
      std::lock_guard lock(inbox_mutex);
      if (closed) {
        for (auto& r : records) r.finish(std::unexpected(RemoteFailure{FailureKind::cancelled, "the kernel closed", r.task}));
        return;
      }
      if (inbox.empty()) inbox = std::move(records);
      else std::move(records.begin(), records.end(), std::back_inserter(inbox));
      post = !std::exchange(drain_posted, true);
    }
    if (post) reactor->post([this] { drain(); });
  }

  // Engine thread.
  void drain() {
    std::vector<TaskRecord> batch;
    {
      std::lock_guard lock(inbox_mutex);
      batch.swap(inbox);
      drain_posted = false;
    }
    for (auto& r : batch) {
      if (r.broadcast) core->broadcast(std::move(r));
      else core->submit(std::move(r));
    }
  }

  void close() {
    {
      std::lock_guard lock(inbox_mutex);
      if (closed) return;
      closed = true;
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
  void fanned_out(std::uint64_t, std::size_t copies) override {
    std::lock_guard lock(mutex_);
    expected_ = copies;
    fanned_ = true;
    done_.notify_all();
  }
  void complete(std::uint64_t, RemoteResult result) override {
    std::lock_guard lock(mutex_);
    results_.push_back(std::move(result));
    done_.notify_all();
  }
  // Every answer, or nullopt after timeout.
  std::optional<std::vector<RemoteResult>> wait(Duration timeout) {
    std::unique_lock lock(mutex_);
    bool all = done_.wait_for(lock, timeout, [&] {
      return (fanned_ && results_.size() >= expected_) || (!fanned_ && !results_.empty());  // failed before fan-out
    });
    if (!all) return std::nullopt;
    return std::move(results_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t expected_ = 0;
  bool fanned_ = false;
  std::vector<RemoteResult> results_;
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

void Kernel::submit_one(TaskRecord record) {
  std::vector<TaskRecord> one;
  one.push_back(std::move(record));
  engine_->enqueue(std::move(one));
}

void Kernel::submit_many(std::vector<TaskRecord> records) { engine_->enqueue(std::move(records)); }

std::vector<RemoteResult> Kernel::broadcast_encoded(std::string_view task, std::vector<std::uint8_t> args) {
  auto sink = std::make_shared<detail::BroadcastSink>();
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
  engine_->reactor->post([&] { p.set_value(engine_->core->stats()); });
  return f.get();
}

}  // namespace rfarm::farm

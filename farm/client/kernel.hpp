// Kernel: the client of a farm, lparallel's kernel over lfarm's servers. Kernel::start runs the KernelCore on a
// private engine thread; every call here is usable from any thread and blocks (with a timeout where it waits for
// servers). Tasks are encoded on the calling thread and handed to the engine in batches: one wake-up per batch,
// not per task.
//
//     KernelOptions options;
//     options.servers = {"tcp:127.0.0.1:7000", "tcp:127.0.0.1:7001"};
//     auto kernel = Kernel::start(options);                       // Result<Kernel>; servers may come later
//     if (!kernel) return fail(kernel.error());
//     Future<std::int64_t> f = kernel->future<std::int64_t>("count_primes", 0, 1000000);
//     std::int64_t n = f.force();                                 // 78498; TaskExecutionError on a remote failure
//     std::vector<TaskResult> everyone = kernel->broadcast("info");   // one result per server
//
// Channels (channel.hpp) give results in completion order; pmap / preduce / pmap_reduce (parallel.hpp) map lists.
//
// Delivery is at-least-once: a task whose connection is lost is resubmitted elsewhere and may run twice
// (farm/PROTOCOL.md section 7); TaskPolicy::fail_after / max_attempts fail it instead. Destroying (or close()-ing)
// the kernel fails every unanswered task with kind cancelled and closes the connections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "farm/client/attached_kernel.hpp"
#include "farm/client/encode_args.hpp"
#include "farm/client/future.hpp"
#include "farm/client/kernel_core.hpp"
#include "farm/client/kernel_options.hpp"
#include "farm/client/task_record.hpp"
#include "farm/error.hpp"
#include "lib/error.hpp"

namespace rfarm::farm {

namespace detail {

struct Engine;

// Fulfils a future with the task's value as T.
template <class T>
class FutureSink final : public ResultSink {
 public:
  FutureSink(Promise<T> promise, std::string task) : promise_(std::move(promise)), task_(std::move(task)) {}
  void complete(std::uint64_t, RemoteResult result) override {
    if constexpr (std::is_same_v<T, TaskResult>) {
      promise_.set(std::move(result));
    } else {
      promise_.set(result_as<T>(result, task_));
    }
  }

 private:
  Promise<T> promise_;
  std::string task_;
};

}  // namespace detail

class Kernel {
 public:
  // Starts the engine thread and a connection to every server in options.servers (none need be up yet).
  // Fails on a server spec that does not parse, or if the engine's reactor cannot start.
  static Result<Kernel> start(KernelOptions options);
  // The kernel on the caller's reactor instead (attached_kernel.hpp): awaitable calls, no engine thread. For the
  // reactor's thread only; options.backend is the reactor's own.
  //     auto kernel = Kernel::attach(reactor, options);
  //     std::expected<std::int64_t, RemoteFailure> n = co_await kernel->submit<std::int64_t>("add", 1, 2);
  static Result<AttachedKernel> attach(Reactor& reactor, KernelOptions options);

  Kernel(Kernel&&) noexcept;
  Kernel& operator=(Kernel&&) noexcept;
  ~Kernel();

  // Fails every unanswered task (cancelled), closes every connection and joins the engine thread.
  void close();

  // lparallel's future: the task runs somewhere in the farm; its value (as T) arrives in the future.
  template <class T, class... A>
  Future<T> future(std::string_view task, const A&... args) {
    return future_with<T>(options().default_policy, task, args...);
  }
  template <class T, class... A>
  Future<T> future_with(const TaskPolicy& policy, std::string_view task, const A&... args) {
    Promise<T> promise;
    Future<T> f = promise.future();
    auto sink = std::make_shared<detail::FutureSink<T>>(promise, std::string(task));
    promise.on_cancel(canceller(sink));
    submit_one(make_record(task, encode_args(args...), policy, std::move(sink), 0));
    return f;
  }

  // The same with the arguments already encoded (encode_args, encode_words); the raw result.
  Future<TaskResult> future_encoded(std::string_view task, std::vector<std::uint8_t> args, const TaskPolicy& policy) {
    Promise<TaskResult> promise;
    Future<TaskResult> f = promise.future();
    auto sink = std::make_shared<detail::FutureSink<TaskResult>>(promise, std::string(task));
    promise.on_cancel(canceller(sink));
    submit_one(make_record(task, std::move(args), policy, std::move(sink), 0));
    return f;
  }

  // lfarm's broadcast-task: runs the task once on every server that is ready (waiting for the first if none is)
  // and returns every result, in no particular order. A failure on any server throws TaskExecutionError;
  // broadcast_outcomes gives them all. Gives up after options.call_timeout (a failure of kind deadline_exceeded).
  template <class... A>
  std::vector<TaskResult> broadcast(std::string_view task, const A&... args) {
    std::vector<TaskResult> values;
    for (RemoteResult& r : broadcast_outcomes(task, args...)) values.push_back(value_or_throw(std::move(r)));
    return values;
  }
  template <class... A>
  std::vector<RemoteResult> broadcast_outcomes(std::string_view task, const A&... args) {
    return broadcast_encoded(task, encode_args(args...));
  }
  std::vector<RemoteResult> broadcast_encoded(std::string_view task, std::vector<std::uint8_t> args);

  // lfarm's (broadcast-task #'ql:quickload ...): sends the task module at path (a shared library of RFARM_TASK
  // definitions) to every server, and to every server that becomes ready later, before any task there. Returns
  // each server's outcome (accepted, already_loaded, the module's tasks, or the server's reason for refusing:
  // a server takes modules only with --accept-modules and from an authenticated client, tls: or unix:). Errors:
  // the file cannot be read; Errc::timed_out if not every server answered within options.call_timeout.
  //     for (const ModuleOutcome& o : kernel.load_module("./libmytasks.so").value())
  //       if (!o.accepted) log("{}: {}", o.server, o.message);
  FarmResult<std::vector<ModuleOutcome>> load_module(const std::string& path);

  // Waits until at least n servers are ready; false after timeout.
  bool wait_ready(std::size_t n, Duration timeout) const;
  // Counters, and the backpressure gauges (unsent now, and the most ever seen).
  KernelStats stats() const;
  const KernelOptions& options() const noexcept;

  // The machinery under Channel and pmap: hand records to the engine (one wake-up for the lot).
  //
  // Backpressure: at most options.max_unsent tasks wait in the kernel for a server. submit_one blocks while
  // that many are unsent; submit_many hands its records over in chunks as room appears (one lock and one
  // wake-up per chunk), so a producer that outruns the farm waits instead of growing memory; try_submit_one
  // returns std::errc::resource_unavailable_try_again instead of waiting (the record stays with the caller),
  // operation_canceled after close(). Called from the kernel's own thread (a `then` continuation), they never
  // wait: the engine is what makes room. After close(), submitted records fail (cancelled).
  static TaskRecord make_record(std::string_view task, std::vector<std::uint8_t> args, const TaskPolicy& policy,
                                std::shared_ptr<ResultSink> sink, std::uint64_t tag);
  void submit_one(TaskRecord record);
  void submit_many(std::vector<TaskRecord> records);
  std::error_code try_submit_one(TaskRecord& record);
  // What Future::cancel() calls for the task whose sink this is (KernelCore::cancel on the engine thread; a
  // no-op returning false once the kernel closed). Usable from any thread.
  std::function<bool()> canceller(std::weak_ptr<ResultSink> sink) const;

 private:
  explicit Kernel(std::unique_ptr<detail::Engine> engine) noexcept;
  std::unique_ptr<detail::Engine> engine_;
};

}  // namespace rfarm::farm

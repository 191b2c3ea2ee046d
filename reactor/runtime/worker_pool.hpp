// WorkerPool: threads that run blocking work for the cores (offload.hpp is the interface cores use).
//
// Submissions go into one bounded lock-free MPMC queue; a core never blocks on it (the runtime sizes it for
// every core's in-flight limit, and each core holds back what is over its limit, see offload.hpp). Idle
// workers sleep on a futex (std::atomic::wait) and are woken once per loop turn of the submitting core for
// the batch it submitted, not once per job. A finished job goes back to the core that submitted it through
// that core's Mailbox::push_completion: many completions, at most one wake-up while the core sleeps.
//
// Workers are plain threads: they may block, and they never touch a reactor.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include "lib/error.hpp"
#include "lib/intrusive_list.hpp"
#include "reactor/runtime/mailbox.hpp"
#include "reactor/runtime/mpmc_queue.hpp"

namespace rfarm::detail {

// One offloaded call, as the pool sees it. The job outlives its trip: it is created and finally freed on its
// core; a worker only runs it and hands it back.
struct OffloadJob : RemoteCompletion, ListHook {
  using RunFn = void (*)(OffloadJob&) noexcept;
  RunFn run = nullptr;        // on a worker: calls the function, keeps its result or exception
  Mailbox* origin = nullptr;  // the core it completes on
  bool cancelled = false;     // handed back unrun by stop(): its result is std::errc::operation_canceled
};

class WorkerPool {
 public:
  // workers threads (at least one); capacity: jobs the queue holds (rounded up to a power of two).
  static Result<std::unique_ptr<WorkerPool>> create(unsigned workers, std::size_t capacity);
  ~WorkerPool() { stop(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Any thread. False if the queue is full (the caller keeps the job).
  bool submit(OffloadJob& job) noexcept { return queue_.try_push(&job); }
  // Wakes up to n sleeping workers, for jobs submitted since the last call.
  void wake(std::size_t n) noexcept;
  // Lets each worker finish the job it runs, joins them, and hands every job still queued back to its core
  // unrun (it arrives there as a completion and is dropped with the core's mailbox). Idempotent.
  void stop() noexcept;

  unsigned size() const noexcept { return static_cast<unsigned>(threads_.size()); }
  std::size_t capacity() const noexcept { return queue_.capacity(); }

 private:
  explicit WorkerPool(std::size_t capacity) : queue_(capacity) {}
  void work(unsigned index) noexcept;

  MpmcQueue<OffloadJob*> queue_;
  std::vector<std::thread> threads_;
  alignas(kCacheLine) std::atomic<unsigned> wake_epoch_{0};  // bumped for every batch; idle workers wait on it
  std::atomic<bool> stopping_{false};
};

}  // namespace rfarm::detail

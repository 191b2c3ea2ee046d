#include "reactor/runtime/worker_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <string>
#include <system_error>

namespace rfarm::detail {

Result<std::unique_ptr<WorkerPool>> WorkerPool::create(unsigned workers, std::size_t capacity) {
  std::unique_ptr<WorkerPool> pool(new WorkerPool(capacity));
  try {
    pool->threads_.reserve(std::max(workers, 1u));
    for (unsigned i = 0; i < std::max(workers, 1u); ++i) pool->threads_.emplace_back([p = pool.get(), i] { p->work(i); });
  } catch (const std::system_error& e) {
    return fail(e.code());  // stop() in the destructor joins the ones that started
  }
  return pool;
}

void WorkerPool::work(unsigned index) noexcept {
  const std::string name = "rfarm-worker-" + std::to_string(index);
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
  for (;;) {
    // The epoch is read before the queue is found empty: a batch submitted after that read bumps it, so the
    // wait below returns at once instead of sleeping through the batch.
    const unsigned epoch = wake_epoch_.load(std::memory_order_acquire);
    OffloadJob* job = nullptr;
    while (queue_.try_pop(job)) {
      job->run(*job);
      job->origin->push_completion(*job);
    }
    if (stopping_.load(std::memory_order_acquire)) return;
    wake_epoch_.wait(epoch, std::memory_order_acquire);
  }
}

void WorkerPool::wake(std::size_t n) noexcept {
  wake_epoch_.fetch_add(1, std::memory_order_acq_rel);
  // notify_one costs a futex call only while someone waits (libstdc++ counts waiters).
  if (n >= threads_.size()) {
    wake_epoch_.notify_all();
  } else {
    for (std::size_t i = 0; i < n; ++i) wake_epoch_.notify_one();
  }
}

void WorkerPool::stop() noexcept {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) return;
  wake_epoch_.fetch_add(1, std::memory_order_acq_rel);
  wake_epoch_.notify_all();
  for (std::thread& t : threads_) t.join();
  OffloadJob* job = nullptr;
  while (queue_.try_pop(job)) {
    job->cancelled = true;
    job->origin->push_completion(*job);
  }
}

}  // namespace rfarm::detail

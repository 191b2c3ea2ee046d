// The baseline of cross_core_bench.cpp: a mutex + condition-variable queue between two plain threads, used
// as everyone first writes it (one call per lock and notify) and used well (a batch per lock, the consumer
// takes everything at once), and a ping-pong on one mutex and two condition variables.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cross_core_bench {

using SteadyClock = std::chrono::steady_clock;

// The first two CPUs this process may use (the same two the runtime's cores are pinned to).
inline std::vector<int> first_two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof set, &set) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < 2; ++cpu)
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  while (cpus.size() < 2) cpus.push_back(cpus.empty() ? 0 : cpus.back());
  return cpus;
}

inline void pin_thread(std::thread& t, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ::pthread_setaffinity_np(t.native_handle(), sizeof set, &set);
}

struct QueueRun {
  std::uint64_t messages = 0;
  std::uint64_t batch = 0;
  std::uint64_t window = 0;
  int round_trips = 0;
  bool pin = true;
};


// The bounded blocking queue everyone writes first.
class BlockingQueue {
 public:
  explicit BlockingQueue(std::size_t capacity) : capacity_(capacity) {}
  void push(std::function<void()> fn) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return queue_.size() < capacity_; });
    queue_.push_back(std::move(fn));
    lock.unlock();
    not_empty_.notify_one();
  }
  void push_batch(std::vector<std::function<void()>>& batch) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return queue_.size() + batch.size() <= capacity_; });
    for (auto& fn : batch) queue_.push_back(std::move(fn));
    lock.unlock();
    batch.clear();
    not_empty_.notify_one();
  }
  std::function<void()> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !queue_.empty(); });
    std::function<void()> fn = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    not_full_.notify_one();
    return fn;
  }
  void pop_all(std::deque<std::function<void()>>& out) {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !queue_.empty(); });
    out.swap(queue_);
    lock.unlock();
    not_full_.notify_one();
  }

 private:
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<std::function<void()>> queue_;
};

// Seconds to move `messages` calls from one thread to the other through the queue, one per lock or `batch`
// per lock; the queue holds `window`.
inline double mutex_throughput_seconds(const QueueRun& o, bool batched) {
  const std::vector<int> cpus = first_two_cpus();
  BlockingQueue queue(o.window);  // the window: the producer blocks beyond it
  std::uint64_t received = 0;
  bool in_order = true;
  auto receive = [&](std::uint64_t seq) {
    in_order &= seq == received;
    ++received;
  };
  const auto start = SteadyClock::now();
  std::thread consumer([&] {
    if (batched) {
      std::deque<std::function<void()>> taken;
      while (received < o.messages) {
        queue.pop_all(taken);
        for (auto& fn : taken) fn();
        taken.clear();
      }
    } else {
      while (received < o.messages) queue.pop()();
    }
  });
  std::thread producer([&] {
    std::vector<std::function<void()>> batch;
    for (std::uint64_t seq = 0; seq < o.messages; ++seq) {
      std::function<void()> fn = [&receive, seq] { receive(seq); };
      if (!batched) {
        queue.push(std::move(fn));
        continue;
      }
      batch.push_back(std::move(fn));
      if (batch.size() == o.batch || seq + 1 == o.messages) queue.push_batch(batch);
    }
  });
  if (o.pin) {
    pin_thread(producer, cpus[0]);
    pin_thread(consumer, cpus[1]);
  }
  producer.join();
  consumer.join();
  if (!in_order) {
    std::fprintf(stderr, "mutex throughput: out of order\n");
    std::exit(1);
  }
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

// Round trips in microseconds, after round_trips / 10 unmeasured.
inline std::vector<double> mutex_round_trips_us(const QueueRun& o) {
  const std::vector<int> cpus = first_two_cpus();
  std::mutex mutex;
  std::condition_variable to_b, to_a;
  int turn = 0;  // 0: a's move, 1: b's
  bool stop = false;
  std::vector<double> samples;
  const int warmup = o.round_trips / 10;
  std::thread b([&] {
    std::unique_lock lock(mutex);
    for (;;) {
      to_b.wait(lock, [&] { return turn == 1 || stop; });
      if (stop) return;
      turn = 0;
      to_a.notify_one();
    }
  });
  std::thread a([&] {
    for (int i = 0; i < o.round_trips + warmup; ++i) {
      const auto t0 = SteadyClock::now();
      std::unique_lock lock(mutex);
      turn = 1;
      to_b.notify_one();
      to_a.wait(lock, [&] { return turn == 0; });
      lock.unlock();
      if (i >= warmup) samples.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
    }
    std::lock_guard lock(mutex);
    stop = true;
    to_b.notify_one();
  });
  if (o.pin) {
    pin_thread(a, cpus[0]);
    pin_thread(b, cpus[1]);
  }
  a.join();
  b.join();
  return samples;
}

}  // namespace cross_core_bench

// Micro-benchmarks of the pieces the reactor's hot paths stand on, without I/O: the timer heap (every
// timeout), the buffer pool (every pooled receive) and the cross-core queue (every message between cores).
//
//   build/bench/micro/reactor_micro_bench [--benchmark_format=json]
//
// bench/run's micro scenario runs this next to farm_codec_bench (frames and FlexBuffers).
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <vector>

#include "lib/buffer_pool.hpp"
#include "reactor/loop/timer_heap.hpp"
#if __has_include("reactor/runtime/cross_core_queue.hpp")
#include "reactor/runtime/cross_core_queue.hpp"
#define RFARM_HAVE_CROSS_CORE_QUEUE 1
#endif

namespace {

using namespace rfarm;
using detail::Clock;
using detail::TimerHeap;
using detail::TimerNode;

void no_fire(TimerNode&) noexcept {}

// Arm and cancel one timer among N armed ones (a connection's idle timeout re-armed per message).
void BM_TimerArmCancel(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  TimerHeap heap;
  std::deque<TimerNode> nodes;
  auto now = Clock::now();
  for (std::size_t i = 0; i < n; ++i) heap.insert(nodes.emplace_back(no_fire), now + std::chrono::seconds(1 + i % 97));
  TimerNode mine(no_fire);
  std::int64_t i = 0;
  for (auto _ : state) {
    heap.insert(mine, now + std::chrono::milliseconds(500 + (i++ & 1023)));
    heap.remove(mine);
  }
  for (auto& node : nodes) heap.remove(node);
}
BENCHMARK(BM_TimerArmCancel)->Arg(16)->Arg(1024)->Arg(65536);

// Insert N timers, then pop them all as they expire: the cost per timer that fires.
void BM_TimerFire(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  TimerHeap heap;
  std::deque<TimerNode> nodes;  // nodes do not move: the heap points at them
  for (std::size_t i = 0; i < n; ++i) nodes.emplace_back(no_fire);
  auto base = Clock::now();
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) heap.insert(nodes[i], base + std::chrono::microseconds((i * 7919) % n));
    while (heap.pop_expired(base + std::chrono::seconds(1)) != nullptr) {
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}
BENCHMARK(BM_TimerFire)->Arg(1024);

// Lease a buffer and hand it back (what every pooled receive and its release cost on epoll).
void BM_BufferPoolAcquireRelease(benchmark::State& state) {
  BufferPool pool(16 * 1024);
  for (auto _ : state) {
    PooledBuffer b = pool.acquire();
    benchmark::DoNotOptimize(b.data());
  }
}
BENCHMARK(BM_BufferPoolAcquireRelease);

// Many leases outstanding at once (a burst of connections with data), then all returned.
void BM_BufferPoolBurst64(benchmark::State& state) {
  BufferPool pool(16 * 1024);
  std::vector<PooledBuffer> held;
  held.reserve(64);
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) held.push_back(pool.acquire());
    held.clear();
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_BufferPoolBurst64);

#ifdef RFARM_HAVE_CROSS_CORE_QUEUE
// Push a batch, publish once, consume the batch, on one thread: the queue's own work per message, without
// the cache-line transfer between cores that cross_core_bench measures.
void BM_CrossCoreQueueBatch(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  detail::CrossCoreQueue<std::uint64_t> queue(1024);
  std::uint64_t sum = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i) {
      std::uint64_t v = i;
      queue.try_push(std::move(v));
    }
    queue.publish();
    queue.consume(batch, [&sum](std::uint64_t& v) { sum += v; });
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}
BENCHMARK(BM_CrossCoreQueueBatch)->Arg(1)->Arg(64)->Arg(256);
#endif

}  // namespace

BENCHMARK_MAIN();

// spin_until: before a blocking call of the Kernel facade sleeps on its condition variable, it looks at the
// condition for up to KernelOptions::spin (latency mode), yielding the CPU between looks. A caller asleep in a
// futex needs the engine's wake-up and the scheduler's: tens of microseconds per round trip on a VM, the largest
// part of a single task's latency once the engine itself spins.
//
//     std::unique_lock lock(mutex_);
//     if (!spin_until(lock, spin_, [&] { return !done_.empty(); })) ready_.wait(lock, [&] { return !done_.empty(); });
#pragma once

#include <sched.h>

#include <chrono>
#include <mutex>

namespace rfarm::farm::detail {

// With the lock held on entry and on return: true once ready() holds, false when the spin ran out (or is zero).
template <class Ready>
bool spin_until(std::unique_lock<std::mutex>& lock, std::chrono::microseconds spin, Ready ready) {
  if (ready()) return true;
  if (spin.count() <= 0) return false;
  const auto until = std::chrono::steady_clock::now() + spin;
  do {
    lock.unlock();
    ::sched_yield();  // the engine may share this CPU: let it deliver
    lock.lock();
    if (ready()) return true;
  } while (std::chrono::steady_clock::now() < until);
  return false;
}

}  // namespace rfarm::farm::detail

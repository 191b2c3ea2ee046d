// TaskTicket: an offloaded task between its Submit and its answer, shared by the connection (which may cancel it)
// and the worker (which claims it before running). Internal to the server.
//
//     auto ticket = std::make_shared<TaskTicket>(task, deadline);
//     // worker:      if (!ticket->claim()) return;        // cancelled while queued: never runs
//     // connection:  if (ticket->cancel_if_queued()) answer_cancelled();   // else it runs on and sees should_stop()
//
// Exactly one of claim() and cancel_if_queued() wins: the phase moves once, from queued, by compare-and-swap.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "farm/tasks/task_registry.hpp"

namespace rfarm::farm::detail {

class TaskTicket {
 public:
  using Clock = std::chrono::steady_clock;

  TaskTicket(const TaskDescriptor& task, std::optional<Clock::time_point> deadline) noexcept
      : task_(&task), deadline_(deadline) {}

  const TaskDescriptor& task() const noexcept { return *task_; }
  std::optional<Clock::time_point> deadline() const noexcept { return deadline_; }
  bool deadline_passed(Clock::time_point now = Clock::now()) const noexcept { return deadline_ && now >= *deadline_; }
  // What TaskContext::cancel_requested() reads while the task runs.
  const std::atomic<bool>& cancel_flag() const noexcept { return cancel_requested_; }

  // Worker: true if the task may start (it was not cancelled first).
  bool claim() noexcept {
    Phase expected = Phase::queued;
    return phase_.compare_exchange_strong(expected, Phase::running, std::memory_order_acq_rel);
  }
  // Connection: asks the task to stop; true if it had not started (it never will), false if it runs already (it
  // sees the request through TaskContext::should_stop(), or runs to its end).
  bool cancel_if_queued() noexcept {
    cancel_requested_.store(true, std::memory_order_relaxed);
    Phase expected = Phase::queued;
    return phase_.compare_exchange_strong(expected, Phase::cancelled, std::memory_order_acq_rel);
  }

 private:
  enum class Phase : std::uint8_t { queued, running, cancelled };

  const TaskDescriptor* task_;
  std::optional<Clock::time_point> deadline_;
  std::atomic<Phase> phase_{Phase::queued};
  std::atomic<bool> cancel_requested_{false};
};

}  // namespace rfarm::farm::detail

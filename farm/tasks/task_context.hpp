// TaskContext: what a running task may ask about its call. A task gets it by declaring TaskContext& as its
// first parameter:
//     RFARM_TASK("crunch", [](TaskContext& context, std::int64_t n) {
//       for (std::int64_t i = 0; i < n; ++i) {
//         if (context.should_stop()) throw std::runtime_error("stopped");   // cancelled or past the deadline
//         step(i);
//       }
//       return n;
//     })
// The server makes one per task, on the stack: building it allocates nothing.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "farm/tasks/server_info.hpp"

namespace rfarm::farm {

class TaskContext {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    std::uint64_t task_id = 0;
    std::optional<Clock::time_point> deadline = {};  // none: the task may take as long as it takes
    const std::atomic<bool>* cancel_flag = nullptr;  // set by the server when the client cancels
    const ServerInfo* server = nullptr;              // null outside a server (tests, local calls)
  };

  TaskContext() noexcept = default;
  explicit TaskContext(const Options& options) noexcept : options_(options) {}

  // The task's registered name (invoke_task sets it before the call).
  std::string_view task_name() const noexcept { return task_name_; }
  void set_task_name(std::string_view name) noexcept { task_name_ = name; }

  std::uint64_t task_id() const noexcept { return options_.task_id; }
  std::optional<Clock::time_point> deadline() const noexcept { return options_.deadline; }
  bool deadline_passed() const noexcept { return options_.deadline && Clock::now() >= *options_.deadline; }
  bool cancel_requested() const noexcept {
    return options_.cancel_flag && options_.cancel_flag->load(std::memory_order_relaxed);
  }
  // Whether a long task should give up now: cancelled, or past its deadline.
  bool should_stop() const noexcept { return cancel_requested() || deadline_passed(); }
  const ServerInfo* server() const noexcept { return options_.server; }

 private:
  Options options_;
  std::string_view task_name_;
};

}  // namespace rfarm::farm

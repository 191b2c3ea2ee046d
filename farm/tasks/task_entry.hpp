// TaskEntry: one task as constant data, what RFARM_TASK emits and a module's table lists. The registry turns
// entries into TaskDescriptors; nothing in an entry is ever written.
//
// invoke decodes the arguments, calls the task and writes its result (exactly one value) into `out`; it never
// throws. `target` is the callable it invokes (the function pointer or lambda object RFARM_TASK stored).
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <cstdint>

#include "farm/tasks/task_context.hpp"
#include "farm/tasks/task_outcome.hpp"
#include "farm/values/value.hpp"

namespace rfarm::farm {

enum class TaskFlags : std::uint32_t {
  none = 0,
  // The task neither blocks nor runs long (microseconds): the server may run it inline on its event loop
  // instead of handing it to a worker. The server decides; the flag only permits.
  may_run_inline = 1u << 0,
};

constexpr TaskFlags operator|(TaskFlags a, TaskFlags b) noexcept {
  return static_cast<TaskFlags>(static_cast<std::uint32_t>(a) | static_cast<std::uint32_t>(b));
}
constexpr bool has_flag(TaskFlags flags, TaskFlags flag) noexcept {
  return (static_cast<std::uint32_t>(flags) & static_cast<std::uint32_t>(flag)) != 0;
}

using InvokeFn = TaskOutcome (*)(const void* target, TaskContext& context, const Args& args,
                                 flexbuffers::Builder& out) noexcept;

// Arity of a task that takes Args: any number of arguments.
inline constexpr std::int32_t kAnyArity = -1;

struct TaskEntry {
  const char* name;
  TaskFlags flags;
  std::int32_t arity;  // parameters after the optional TaskContext&, or kAnyArity
  InvokeFn invoke;
  const void* target;
};

}  // namespace rfarm::farm

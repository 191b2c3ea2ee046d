// TaskRegistry: the tasks one server (or one test) can run, by name. An object, not a process-wide table: a
// server owns one, fills it at start (built-ins, --module) and when a client ships a module, and looks tasks up
// on every Submit.
//
//     TaskRegistry registry;
//     register_builtin_tasks(registry);                                // add, echo, sleep_ms, fail, info
//     registry.add("scale", [factor = 3](std::int64_t x) { return x * factor; });
//     TaskOutcome outcome = registry.invoke("scale", context, args, out);   // args: a verified FlexBuffer vector
//
// Not thread-safe to modify; once filled, lookups and invocations may run on any number of threads (a server
// changes it on its control thread only, between tasks that could see it).
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "farm/error.hpp"
#include "farm/tasks/task_adapter.hpp"
#include "farm/tasks/task_entry.hpp"
#include "lib/bytes.hpp"

namespace rfarm::farm {

struct TaskDescriptor {
  std::string name;
  TaskFlags flags = TaskFlags::none;
  std::int32_t arity = 0;  // kAnyArity for tasks taking Args
  InvokeFn invoke = nullptr;
  const void* target = nullptr;
  std::string origin;  // "builtin", "module example_tasks", or "" for tasks the program added itself

  bool may_run_inline() const noexcept { return has_flag(flags, TaskFlags::may_run_inline); }
};

// Decodes args (a verified FlexBuffer whose root is a vector; empty bytes mean no arguments), runs the task and
// leaves its result as the finished root of `out` (cleared first; reuse one builder per thread). Never throws.
//     TaskOutcome o = invoke_task(*registry.find("add"), context, args, out);
//     if (o.ok()) send_result(id, out.GetBuffer());
TaskOutcome invoke_task(const TaskDescriptor& task, TaskContext& context, ConstBytes args,
                        flexbuffers::Builder& out) noexcept;

// Checks a task name: 1 to 128 printable ASCII characters, no spaces ("count_primes", "example.word_count").
FarmResult<void> check_task_name(std::string_view name);

class TaskRegistry {
 public:
  TaskRegistry() = default;
  TaskRegistry(TaskRegistry&&) noexcept = default;
  TaskRegistry& operator=(TaskRegistry&&) noexcept = default;
  TaskRegistry(const TaskRegistry&) = delete;
  TaskRegistry& operator=(const TaskRegistry&) = delete;

  // Adds a task running fn (any callable the adapter accepts, see task_adapter.hpp; the registry keeps a copy).
  // Fails with task_exists or invalid_task_name.
  template <class F>
  FarmResult<void> add(std::string_view name, F fn, TaskFlags flags = TaskFlags::none, std::string_view origin = {}) {
    auto owned = std::make_shared<const F>(std::move(fn));
    TaskEntry entry = make_task_entry<F>(nullptr, owned.get(), flags);
    auto added = insert(name, entry, origin);
    if (added) owned_callables_.push_back(std::move(owned));
    return added;
  }

  // Adds every entry (a module's table), or none of them: a name that is invalid, repeated, or already
  // registered refuses the lot, and the error names each offender.
  FarmResult<void> add_entries(std::span<const TaskEntry* const> entries, std::string_view origin);

  // The task called name, or nullptr.
  const TaskDescriptor* find(std::string_view name) const noexcept;

  // find + invoke_task; an unknown name is a failure of kind unknown_task.
  TaskOutcome invoke(std::string_view name, TaskContext& context, ConstBytes args,
                     flexbuffers::Builder& out) const noexcept;

  std::vector<std::string> names() const;  // sorted
  std::size_t size() const noexcept { return tasks_.size(); }

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };

  FarmResult<void> insert(std::string_view name, const TaskEntry& entry, std::string_view origin);

  std::unordered_map<std::string, TaskDescriptor, NameHash, std::equal_to<>> tasks_;
  std::vector<std::shared_ptr<const void>> owned_callables_;  // targets of tasks added with add()
};

}  // namespace rfarm::farm

#include "farm/tasks/task_registry.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <set>

namespace rfarm::farm {

FarmResult<void> check_task_name(std::string_view name) {
  constexpr std::size_t kMaxLength = 128;
  if (name.empty()) return fail_with(FarmErrc::invalid_task_name, "a task name must not be empty");
  if (name.size() > kMaxLength)
    return fail_with(FarmErrc::invalid_task_name,
                     fmt::format("task name '{}...' is longer than {} bytes", name.substr(0, 32), kMaxLength));
  for (char c : name) {
    if (c <= ' ' || c > '~')
      return fail_with(FarmErrc::invalid_task_name,
                       fmt::format("task name '{}' holds a space, a control or a non-ASCII character",
                                   std::string_view(name.data(), std::min<std::size_t>(name.size(), 64))));
  }
  return {};
}

FarmResult<void> TaskRegistry::insert(std::string_view name, const TaskEntry& entry, std::string_view origin) {
  if (auto valid = check_task_name(name); !valid) return valid;
  if (tasks_.contains(name))
    return fail_with(FarmErrc::task_exists, fmt::format("a task named '{}' is already registered", name));
  tasks_.emplace(std::string(name), TaskDescriptor{std::string(name), entry.flags, entry.arity, entry.invoke,
                                                   entry.target, std::string(origin)});
  return {};
}

FarmResult<void> TaskRegistry::add_entries(std::span<const TaskEntry* const> entries, std::string_view origin) {
  std::vector<std::string> problems;
  bool only_collisions = true;  // name_collision if every problem is a name taken before, else module_invalid
  std::set<std::string_view> seen;
  for (const TaskEntry* entry : entries) {
    if (!entry || !entry->name || !entry->invoke) {
      problems.push_back("a malformed entry");
      only_collisions = false;
      continue;
    }
    std::string_view name = entry->name;
    if (auto valid = check_task_name(name); !valid) {
      problems.push_back(valid.error().message);
      only_collisions = false;
    } else if (!seen.insert(name).second) {
      problems.push_back(fmt::format("'{}' is defined twice", name));
      only_collisions = false;
    } else if (const TaskDescriptor* existing = find(name)) {
      problems.push_back(fmt::format("'{}' is already registered{}", name,
                                     existing->origin.empty() ? "" : fmt::format(" ({})", existing->origin)));
    }
  }
  if (!problems.empty())
    return fail_with(only_collisions ? FarmErrc::name_collision : FarmErrc::module_invalid,
                     fmt::format("{}: {}", origin.empty() ? "tasks" : origin, fmt::join(problems, "; ")));
  for (const TaskEntry* entry : entries) {
    if (auto added = insert(entry->name, *entry, origin); !added) return added;  // checked above: cannot fail
  }
  return {};
}

const TaskDescriptor* TaskRegistry::find(std::string_view name) const noexcept {
  auto it = tasks_.find(name);
  return it == tasks_.end() ? nullptr : &it->second;
}

TaskOutcome TaskRegistry::invoke(std::string_view name, TaskContext& context, ConstBytes args,
                                 flexbuffers::Builder& out) const noexcept {
  const TaskDescriptor* task = find(name);
  if (!task) {
    try {
      return TaskOutcome::failure(FailureKind::unknown_task, fmt::format("no task named '{}'", name));
    } catch (...) {
      return TaskOutcome::failure(FailureKind::unknown_task, {});
    }
  }
  return invoke_task(*task, context, args, out);
}

std::vector<std::string> TaskRegistry::names() const {
  std::vector<std::string> names;
  names.reserve(tasks_.size());
  for (const auto& [name, task] : tasks_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace rfarm::farm

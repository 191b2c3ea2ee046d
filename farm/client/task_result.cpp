#include "farm/client/task_result.hpp"

#include <fmt/format.h>

#include "farm/values/json.hpp"

namespace rfarm::farm {

std::string describe(const RemoteFailure& failure) {
  return fmt::format("task '{}' failed ({}): {}", failure.task, to_string(failure.kind), failure.message);
}

TaskExecutionError::TaskExecutionError(RemoteFailure failure)
    : std::runtime_error(describe(failure)), failure_(std::move(failure)) {}

Value TaskResult::value() const noexcept {
  if (bytes_.empty()) return Value();
  return Value(flexbuffers::GetRoot(bytes_.data(), bytes_.size()));
}

std::string TaskResult::to_json() const { return farm::to_json(value().ref()); }

std::string TaskResult::to_display_text() const { return farm::to_display_text(value().ref()); }

}  // namespace rfarm::farm

#include "farm/tasks/task_outcome.hpp"

namespace rfarm::farm {

std::string_view to_string(FailureKind kind) noexcept {
  switch (kind) {
    case FailureKind::none: return "none";
    case FailureKind::unknown_task: return "unknown_task";
    case FailureKind::bad_arguments: return "bad_arguments";
    case FailureKind::task_error: return "task_error";
    case FailureKind::deadline_exceeded: return "deadline_exceeded";
    case FailureKind::cancelled: return "cancelled";
    case FailureKind::overloaded: return "overloaded";
    case FailureKind::server_error: return "server_error";
    case FailureKind::module_error: return "module_error";
    case FailureKind::protocol_error: return "protocol_error";
  }
  return "unknown";
}

}  // namespace rfarm::farm

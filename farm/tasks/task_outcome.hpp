// How a task invocation ended: success (the result is in the caller's builder) or a failure of some kind with a
// message. FailureKind's numbers are the wire's (farm.fbs FailureKind; the protocol checks they agree).
//
//     TaskOutcome outcome = registry.invoke("add", context, args, out);
//     if (!outcome.ok()) send_failure(id, outcome.kind(), outcome.message());
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace rfarm::farm {

enum class FailureKind : std::uint8_t {
  none = 0,               // not a failure
  unknown_task = 1,       // no task of that name on this server
  bad_arguments = 2,      // wrong number or types of arguments
  task_error = 3,         // the task raised (threw or returned an error)
  deadline_exceeded = 4,  // the deadline passed before or while the task ran
  cancelled = 5,          // the client cancelled it, or the server shut down under it
  overloaded = 6,         // the server refused it for now; safe to submit elsewhere
  server_error = 7,       // the server failed around the task (e.g. the result is too large to send)
  module_error = 8,       // a module transfer could not be stored or loaded
  protocol_error = 9,     // the peer broke the protocol; the connection closes after this
};

// "unknown_task", "bad_arguments", ...: the same words as the wire enum.
std::string_view to_string(FailureKind kind) noexcept;

// A task's own way to fail with a kind other than task_error, by returning std::expected<T, TaskFailure>.
struct TaskFailure {
  FailureKind kind = FailureKind::task_error;
  std::string message;
};

class TaskOutcome {
 public:
  static TaskOutcome success() noexcept { return TaskOutcome(); }
  static TaskOutcome failure(FailureKind kind, std::string message) {
    return TaskOutcome(kind == FailureKind::none ? FailureKind::server_error : kind, std::move(message));
  }
  static TaskOutcome failure(TaskFailure f) { return failure(f.kind, std::move(f.message)); }

  bool ok() const noexcept { return kind_ == FailureKind::none; }
  FailureKind kind() const noexcept { return kind_; }
  const std::string& message() const noexcept { return message_; }

 private:
  TaskOutcome() noexcept = default;
  TaskOutcome(FailureKind kind, std::string message) noexcept : kind_(kind), message_(std::move(message)) {}

  FailureKind kind_ = FailureKind::none;
  std::string message_;
};

}  // namespace rfarm::farm

// What a client gets back for one task: the task's value (TaskResult, owning the FlexBuffer bytes the server
// sent) or why there is none (RemoteFailure). RemoteResult holds one of the two; TaskExecutionError is the
// exception the throwing calls raise for a failure, lparallel's task-execution-error:
//
//     RemoteResult r = channel.receive_outcome();
//     if (r) std::int64_t n = r->as<std::int64_t>().value();   // ReadResult<T>: the value, or why it is not a T
//     else log("{} failed: {}", r.error().task, r.error().message);
//     try { channel.receive_result(); } catch (const TaskExecutionError& e) { e.kind(); e.remote_message(); }
#pragma once

#include <cstdint>
#include <expected>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "farm/tasks/task_outcome.hpp"
#include "farm/values/value.hpp"
#include "farm/values/value_codec.hpp"
#include "lib/bytes.hpp"

namespace rfarm::farm {

// Why a task has no value: a Failure frame from a server (kind, its message, the task's name), or the client's
// own verdict with a kind from the same list (cancelled when the kernel closed, deadline_exceeded when the
// task's fail-after deadline passed while no server answered it).
struct RemoteFailure {
  FailureKind kind = FailureKind::server_error;
  std::string message;
  std::string task;
};

// "task 'count_primes' failed (task_error): count_primes: need 0 <= lo ..."
std::string describe(const RemoteFailure& failure);

class TaskExecutionError : public std::runtime_error {
 public:
  explicit TaskExecutionError(RemoteFailure failure);

  FailureKind kind() const noexcept { return failure_.kind; }
  // The server's text (what() adds the task and the kind).
  const std::string& remote_message() const noexcept { return failure_.message; }
  const std::string& task_name() const noexcept { return failure_.task; }
  const RemoteFailure& failure() const noexcept { return failure_; }

 private:
  RemoteFailure failure_;
};

// A task's value: the verified FlexBuffer a Result frame carried (empty bytes: null).
class TaskResult {
 public:
  TaskResult() = default;  // null
  explicit TaskResult(std::vector<std::uint8_t> bytes) noexcept : bytes_(std::move(bytes)) {}

  // The value as T (an owning type: std::string rather than std::string_view), with the values layer's strict
  // rules: result.as<std::int64_t>() of a float is an error, not a conversion.
  template <ReadableValue T>
  ReadResult<T> as() const {
    if (bytes_.empty()) return ValueTraits<T>::read(flexbuffers::Reference());
    return decode_value<T>(bytes());
  }
  // A view into this result (valid while it lives).
  Value value() const noexcept;
  // "25", "\"text\"", "[1, 2]": farm/values/json.hpp.
  std::string to_json() const;
  // As to_json, but a top-level string prints as itself (what `farm submit` prints).
  std::string to_display_text() const;
  bool is_null() const noexcept { return value().is_null(); }

  ConstBytes bytes() const noexcept { return std::as_bytes(std::span(bytes_)); }

 private:
  std::vector<std::uint8_t> bytes_;
};

using RemoteResult = std::expected<TaskResult, RemoteFailure>;

// The value of r, or TaskExecutionError.
inline TaskResult value_or_throw(RemoteResult r) {
  if (!r) throw TaskExecutionError(std::move(r.error()));
  return std::move(*r);
}

// r as a T: the value, the remote failure, or a failure of kind bad_arguments saying the result was not a T
// ("result of 'add': expected string, got integer").
template <ReadableValue T>
std::expected<T, RemoteFailure> result_as(const RemoteResult& r, std::string_view task) {
  if (!r) return std::unexpected(r.error());
  auto value = r->as<T>();
  if (!value)
    return std::unexpected(RemoteFailure{FailureKind::bad_arguments,
                                         "result of '" + std::string(task) + "': " + value.error().message(),
                                         std::string(task)});
  return std::move(*value);
}

}  // namespace rfarm::farm

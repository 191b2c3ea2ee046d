// ServerConnection<S>, the task side: Submit (inline or offloaded), Cancel, deadlines, and the answers.
//
// An offloaded task has a TaskTicket in offloaded_ from its Submit to its answer: that table is what finds a task
// to cancel, what refuses a task id reused while in flight, and what a closing connection cancels. Inline tasks
// run to their end inside the frame's handling, so by the time a later frame (a Cancel) is read they are answered.
#include <string>
#include <type_traits>

#include "farm/protocol/frame_encoder.hpp"
#include "farm/server/farm_server.hpp"
#include "farm/server/server_connection.hpp"
#include "farm/tasks/task_context.hpp"
#include "reactor/runtime/runtime.hpp"

namespace rfarm::farm::detail {

// What a worker hands back for an offloaded task: its outcome, and its value when it succeeded.
template <class S>
struct ServerConnection<S>::TaskAnswer {
  TaskOutcome outcome = TaskOutcome::success();
  std::vector<std::uint8_t> value;
  bool ran = true;  // false: cancelled while queued (already answered) or past its deadline before it started
};

template <class S>
void ServerConnection<S>::on_submit(const wire::Submit& submit) {
  const std::uint64_t id = submit.task_id();
  const std::string_view name = submit.task()->string_view();  // required: the verifier checked it is there
  if (find_offloaded(id))  // its answer would be ambiguous: the client's bug, said once, then we close
    return protocol_error("task id " + std::to_string(id) + " reused while that task is in flight");
  if (state_ == State::draining)
    return send_failure(id, FailureKind::overloaded, "the server is shutting down; the task did not start", name);
  const TaskDescriptor* task = core_.tasks->find(name);
  if (task == nullptr) return send_failure(id, FailureKind::unknown_task, "no task '" + std::string(name) + "' on this server", name);
  std::optional<TaskTicket::Clock::time_point> deadline;
  if (submit.deadline_ms() != 0 && (features_ & feature_bit(wire::Feature::deadlines)) != 0)
    deadline = TaskTicket::Clock::now() + std::chrono::milliseconds(submit.deadline_ms());  // from reading the frame
  if (task->may_run_inline() && server_.options().inline_tasks) return run_inline(id, *task, deadline, args_of(submit));
  run_offloaded(id, *task, deadline, args_of(submit));
}

template <class S>
void ServerConnection<S>::on_cancel(const wire::Cancel& cancel) {
  if ((features_ & feature_bit(wire::Feature::cancel)) == 0) return;  // not granted: ignored (PROTOCOL.md)
  const std::shared_ptr<TaskTicket> ticket = find_offloaded(cancel.task_id());
  if (!ticket) return;  // answered already (or inline, or never submitted): nothing to stop
  if (!ticket->cancel_if_queued()) return;  // running: it may see should_stop(); answered when it ends
  forget_offloaded(cancel.task_id());  // answered now: the id is free again; the worker drops the ticket unrun
  send_failure(cancel.task_id(), FailureKind::cancelled, "cancelled before it started", ticket->task().name);
}

template <class S>
void ServerConnection<S>::cancel_queued_tasks() noexcept {
  if (!offloaded_) return;
  for (auto& [id, ticket] : *offloaded_) ticket->cancel_if_queued();  // nobody is left to answer: run none of them
  offloaded_.reset();
}

template <class S>
std::shared_ptr<TaskTicket> ServerConnection<S>::find_offloaded(std::uint64_t id) const noexcept {
  if (!offloaded_) return nullptr;
  auto it = offloaded_->find(id);
  return it != offloaded_->end() ? it->second : nullptr;
}

template <class S>
void ServerConnection<S>::forget_offloaded(std::uint64_t id) noexcept {
  offloaded_->erase(id);
  if (offloaded_->empty()) offloaded_.reset();  // an idle connection holds no table
}

template <class S>
void ServerConnection<S>::run_inline(std::uint64_t id, const TaskDescriptor& task,
                                     std::optional<TaskTicket::Clock::time_point> deadline, ConstBytes args) {
  TaskContext context({.task_id = id, .deadline = deadline, .server = &server_});
  TaskOutcome outcome = invoke_task(task, context, args, core_.values);
  core_.count_task();
  if (!outcome.ok()) return send_failure(id, outcome.kind(), outcome.message(), task.name);
  const std::vector<std::uint8_t>& value = core_.values.GetBuffer();
  send_result(id, task.name, std::as_bytes(std::span(value)));
}

template <class S>
void ServerConnection<S>::run_offloaded(std::uint64_t id, const TaskDescriptor& task,
                                        std::optional<TaskTicket::Clock::time_point> deadline, ConstBytes args) {
  // The frame is a view into the receive buffer, valid only until the next read: the worker gets its own copy
  // (operator new's alignment keeps the FlexBuffer's scalars aligned).
  std::vector<std::byte> owned(args.begin(), args.end());
  auto ticket = std::make_shared<TaskTicket>(task, deadline);
  if (!offloaded_) offloaded_ = std::make_unique<OffloadedTasks>();
  offloaded_->emplace(id, ticket);
  ++in_flight_;
  std::shared_ptr<const TaskRegistry> table = core_.tasks;  // the task lives as long as its table
  const ServerInfo* info = &server_;
  server_.runtime().offload(
      [table, ticket, id, info, owned = std::move(owned)]() {
        TaskAnswer answer;
        if (!ticket->claim()) {  // cancelled while queued: answered by the connection already
          answer.ran = false;
          return answer;
        }
        if (ticket->deadline_passed()) {
          answer.ran = false;
          answer.outcome = TaskOutcome::failure(FailureKind::deadline_exceeded,
                                                "the deadline passed before the task started; it did not run");
          return answer;
        }
        flexbuffers::Builder values;
        TaskContext context({.task_id = id, .deadline = ticket->deadline(), .cancel_flag = &ticket->cancel_flag(),
                             .server = info});
        answer.outcome = invoke_task(ticket->task(), context, ConstBytes(owned), values);
        if (answer.outcome.ok()) answer.value = values.GetBuffer();
        return answer;
      },
      [self = this->shared_from_this(), table, ticket, id](OffloadResult<TaskAnswer> done) {
        TaskAnswer answer;
        if (done) {
          answer = std::move(*done);
        } else {
          answer.outcome = TaskOutcome::failure(FailureKind::server_error, "the worker failed to run the task");
        }
        self->on_offloaded_answer(id, *ticket, std::move(answer));
      });
}

template <class S>
void ServerConnection<S>::on_offloaded_answer(std::uint64_t id, const TaskTicket& ticket, TaskAnswer answer) {
  const bool answered = find_offloaded(id).get() != &ticket;  // cancelled (the id may be reused)
  if (!answered) forget_offloaded(id);
  if (answer.ran) core_.count_task();
  if (state_ != State::closed && !answered) {
    if (answer.outcome.ok()) {
      send_result(id, ticket.task().name, std::as_bytes(std::span(answer.value)));
    } else {
      send_failure(id, answer.outcome.kind(), answer.outcome.message(), ticket.task().name);
    }
    stream_.reactor().at_end_of_turn(flush_hook_);  // this turn's other answers join it
  }
  task_finished();
}

template <class S>
void ServerConnection<S>::task_finished() {
  --in_flight_;
  if (in_flight_ == 0) arm_idle_timer();
  maybe_finish_draining();
  wake();
}

template <class S>
void ServerConnection<S>::send_result(std::uint64_t id, std::string_view task, ConstBytes value) {
  if (core_.encoder.result(output_, id, value))
    send_failure(id, FailureKind::server_error, "the result does not fit in a frame", task);
}

template <class S>
void ServerConnection<S>::send_failure(std::uint64_t id, FailureKind kind, std::string_view message,
                                       std::string_view task) {
  if (core_.encoder.failure(output_, {.task_id = id, .kind = kind, .message = message, .task = task})) {
    // Only a message near the frame size gets here: send it cut short rather than not at all.
    core_.encoder.failure(output_, {.task_id = id, .kind = kind, .message = message.substr(0, 1024), .task = {}});
  }
}

// The class is instantiated in server_connection.cpp; the members defined here are instantiated here.
#define RFARM_INSTANTIATE_TASK_MEMBERS(S)                                                                          \
  template void ServerConnection<S>::on_submit(const wire::Submit&);                                              \
  template void ServerConnection<S>::on_cancel(const wire::Cancel&);                                              \
  template void ServerConnection<S>::cancel_queued_tasks() noexcept;                                              \
  template std::shared_ptr<TaskTicket> ServerConnection<S>::find_offloaded(std::uint64_t) const noexcept;         \
  template void ServerConnection<S>::forget_offloaded(std::uint64_t) noexcept;                                    \
  template void ServerConnection<S>::run_inline(std::uint64_t, const TaskDescriptor&,                             \
                                                std::optional<TaskTicket::Clock::time_point>, ConstBytes);        \
  template void ServerConnection<S>::run_offloaded(std::uint64_t, const TaskDescriptor&,                          \
                                                   std::optional<TaskTicket::Clock::time_point>, ConstBytes);     \
  template void ServerConnection<S>::on_offloaded_answer(std::uint64_t, const TaskTicket&, TaskAnswer);           \
  template void ServerConnection<S>::task_finished();                                                             \
  template void ServerConnection<S>::send_result(std::uint64_t, std::string_view, ConstBytes);                    \
  template void ServerConnection<S>::send_failure(std::uint64_t, FailureKind, std::string_view, std::string_view);
RFARM_INSTANTIATE_TASK_MEMBERS(StreamSocket)
RFARM_INSTANTIATE_TASK_MEMBERS(TlsStream)
#undef RFARM_INSTANTIATE_TASK_MEMBERS

}  // namespace rfarm::farm::detail

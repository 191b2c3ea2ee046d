#include "farm/client/task_record.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace rfarm::farm {

void TaskTable::add_pending(TaskRecord record) {
  record.id = 0;
  record.connection = kNoConnection;
  ++counters_.submitted;
  pending_.push_back(std::move(record));
}

TaskRecord& TaskTable::start_next(ConnectionId connection) {
  TaskRecord record = std::move(pending_.front());
  pending_.pop_front();
  return start(std::move(record), connection);
}

TaskRecord& TaskTable::start(TaskRecord record, ConnectionId connection) {
  record.id = next_id_++;
  record.connection = connection;
  ++record.attempts;
  auto [it, inserted] = in_flight_.emplace(record.id, std::move(record));
  return it->second;
}

std::optional<TaskRecord> TaskTable::complete(std::uint64_t id) {
  auto node = in_flight_.extract(id);
  if (node.empty()) {
    ++counters_.dropped_answers;
    return std::nullopt;
  }
  if (node.mapped().cancelled) {
    ++counters_.answers_after_cancel;
    return std::nullopt;
  }
  ++counters_.completed;
  return std::move(node.mapped());
}

std::size_t TaskTable::cancel(const ResultSink* sink,
                              const std::function<void(std::uint64_t, ConnectionId)>& in_flight) {
  if (sink == nullptr) return 0;
  std::vector<TaskRecord> answered;  // finished after both sweeps
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->sink.get() == sink) {
      answered.push_back(std::move(*it));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<std::pair<std::uint64_t, ConnectionId>> sent;
  for (auto& [id, r] : in_flight_) {
    if (r.sink.get() != sink || r.cancelled) continue;
    r.cancelled = true;
    TaskRecord answer;  // the record stays in flight without its sink: a second cancel finds nothing
    answer.task = r.task;
    answer.tag = r.tag;
    answer.sink = std::move(r.sink);
    answered.push_back(std::move(answer));
    sent.emplace_back(id, r.connection);
  }
  counters_.cancelled += answered.size();
  for (auto& [id, connection] : sent) in_flight(id, connection);
  for (TaskRecord& r : answered)
    r.finish(std::unexpected(RemoteFailure{FailureKind::cancelled, "cancelled by the client", r.task}));
  return answered.size();
}

std::size_t TaskTable::requeue(ConnectionId connection, Clock::time_point now,
                               const std::function<void(TaskRecord&, RemoteFailure)>& on_failed) {
  std::vector<TaskRecord> lost;
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.connection == connection) {
      lost.push_back(std::move(it->second));
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
  // Oldest attempt first (ids grow), so that resubmission keeps the caller's order where it can.
  std::sort(lost.begin(), lost.end(), [](const TaskRecord& a, const TaskRecord& b) { return a.id < b.id; });
  std::size_t back = 0;
  for (auto it = lost.rbegin(); it != lost.rend(); ++it) {
    TaskRecord& r = *it;
    if (r.cancelled) {
      continue;  // already answered; nobody waits for it
    } else if (r.broadcast) {
      on_failed(r, {FailureKind::server_error, "the connection to the server was lost before it answered", r.task});
    } else if (now >= r.fail_at) {
      on_failed(r, {FailureKind::deadline_exceeded,
                    "its connection was lost and its fail-after deadline has passed", r.task});
    } else if (r.policy.max_attempts != 0 && r.attempts >= r.policy.max_attempts) {
      on_failed(r, {FailureKind::server_error,
                    fmt::format("its connection was lost on each of its {} attempts", r.attempts), r.task});
    } else {
      r.id = 0;
      r.connection = kNoConnection;
      pending_.push_front(std::move(r));
      ++counters_.resubmitted;
      ++back;
    }
  }
  return back;
}

void TaskTable::expire_pending(Clock::time_point now,
                               const std::function<void(TaskRecord&, RemoteFailure)>& on_failed) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now >= it->fail_at) {
      TaskRecord r = std::move(*it);
      it = pending_.erase(it);
      on_failed(r, {FailureKind::deadline_exceeded, "no server answered it before its fail-after deadline", r.task});
    } else {
      ++it;
    }
  }
}

void TaskTable::drain_pending(const std::function<void(TaskRecord&)>& fn) {
  std::deque<TaskRecord> pending = std::move(pending_);
  pending_.clear();
  for (auto& r : pending) fn(r);
}

void TaskTable::drain_all(const std::function<void(TaskRecord&)>& fn) {
  std::deque<TaskRecord> pending = std::move(pending_);
  pending_.clear();
  std::unordered_map<std::uint64_t, TaskRecord> in_flight = std::move(in_flight_);
  in_flight_.clear();
  for (auto& r : pending) fn(r);
  for (auto& [id, r] : in_flight) fn(r);
}

}  // namespace rfarm::farm

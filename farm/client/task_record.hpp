// TaskRecord and TaskTable: the kernel's book of tasks, on the kernel's loop only.
//
// A record is a task until its answer reaches its sink, exactly once. It waits in the pending queue until the
// balancer gives it a connection; it is then in flight under a wire id that is fresh for every attempt. An answer
// whose id is not in flight (a late result from a connection declared dead, a duplicate) is dropped and counted:
// a resubmitted task has a new id, so its first attempt's result can never complete it a second time.
//
//     TaskTable table;
//     table.add_pending(std::move(record));
//     TaskRecord& r = table.start_next(conn_id);        // pending -> in flight, r.id is the wire id
//     std::optional<TaskRecord> done = table.complete(wire_id);   // nullopt: late or duplicate, dropped
//     table.requeue(conn_id, now, on_failed);           // a lost connection: its tasks go back (or fail)
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "farm/client/task_result.hpp"
#include "reactor/loop/reactor.hpp"

namespace rfarm::farm {

// Per task, not global (gearman #197): how long and how often the kernel keeps trying.
struct TaskPolicy {
  // Fail the task (deadline_exceeded) if it has no answer this long after it was submitted and a connection
  // carrying it is lost, or it is still waiting for a connection. Zero: retry forever (at-least-once).
  Duration fail_after{0};
  // Fail the task after this many attempts lost with their connection. Zero: no limit.
  unsigned max_attempts = 0;
  // Submit.deadline_ms for servers that grant the deadlines feature; 0: none.
  std::uint32_t server_deadline_ms = 0;
};

// Where answers go. Called on the kernel's loop, once per task; implementations hand the answer to another
// thread (a channel, a future) or run a continuation. tag is what the submitter chose (pmap: the index).
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  virtual void complete(std::uint64_t tag, RemoteResult result) = 0;
  // A broadcast went out as `copies` tasks, one per ready server (called before their answers).
  virtual void fanned_out(std::uint64_t /*tag*/, std::size_t /*copies*/) {}
};

using ConnectionId = std::uint32_t;
inline constexpr ConnectionId kNoConnection = ~ConnectionId{0};

struct TaskRecord {
  std::uint64_t id = 0;  // the wire id of the attempt in flight (0 while pending)
  std::string task;
  std::vector<std::uint8_t> args;  // the encoded argument vector (encode_args.hpp)
  TaskPolicy policy;
  Clock::time_point fail_at = Clock::time_point::max();
  std::shared_ptr<ResultSink> sink;
  std::uint64_t tag = 0;
  unsigned attempts = 0;  // attempts started
  ConnectionId connection = kNoConnection;
  // A broadcast copy is bound to one connection: it never moves elsewhere, it fails with that connection.
  bool broadcast = false;
  // Cancelled while in flight: its sink already heard `cancelled`; it stays in flight only until its server's
  // answer (Failure{cancelled}, or a Result that was first) arrives, which is then dropped and counted.
  bool cancelled = false;

  // Hands the answer to the sink (the record is done after this).
  void finish(RemoteResult result) {
    if (sink) sink->complete(tag, std::move(result));
    sink.reset();
  }
};

struct TaskTableCounters {
  std::uint64_t submitted = 0;
  std::uint64_t completed = 0;
  std::uint64_t resubmitted = 0;      // attempts moved from a lost connection to the pending queue
  std::uint64_t dropped_answers = 0;  // answers with no task in flight under their id (late or duplicate)
  std::uint64_t cancelled = 0;             // tasks answered `cancelled` by cancel()
  std::uint64_t answers_after_cancel = 0;  // server answers that arrived for a task already cancelled, dropped
};


class TaskTable {
 public:
  void add_pending(TaskRecord record);
  bool has_pending() const noexcept { return !pending_.empty(); }
  std::size_t pending() const noexcept { return pending_.size(); }
  std::size_t in_flight() const noexcept { return in_flight_.size(); }

  // The oldest pending record, now in flight on connection with a fresh wire id and one more attempt.
  TaskRecord& start_next(ConnectionId connection);
  // A record (a broadcast copy) straight into flight on connection.
  TaskRecord& start(TaskRecord record, ConnectionId connection);

  // The record in flight under id, removed; nullopt (and counted) if there is none, or if it was cancelled.
  std::optional<TaskRecord> complete(std::uint64_t id);

  // Every unanswered task whose sink is `sink` (a Future's one task; a Channel's all), answered `cancelled` now:
  // a pending one is gone without a trace; one in flight stays there, marked, until its server answers, and
  // in_flight(id, connection) hears it (the caller may send a Cancel). Returns how many; 0: every answer came
  // first. The sinks hear `cancelled` after the table is consistent (a sink's continuation may call in again).
  // Linear in the tasks held: cancels are rare.
  std::size_t cancel(const ResultSink* sink,
                     const std::function<void(std::uint64_t id, ConnectionId connection)>& in_flight);

  // The connection is lost: each of its records goes back to the front of the pending queue (resubmitted first,
  // in their order), or, if it is a broadcast copy, its policy's deadline passed or its attempts are used up,
  // to on_failed with the reason. Returns how many went back.
  std::size_t requeue(ConnectionId connection, Clock::time_point now,
                      const std::function<void(TaskRecord&, RemoteFailure)>& on_failed);

  // Pending records whose fail_after deadline passed, removed and handed to on_failed.
  void expire_pending(Clock::time_point now, const std::function<void(TaskRecord&, RemoteFailure)>& on_failed);

  // Every pending record, removed and handed to fn (no server will take them).
  void drain_pending(const std::function<void(TaskRecord&)>& fn);
  // Every record, pending and in flight, removed and handed to fn (the kernel closing).
  void drain_all(const std::function<void(TaskRecord&)>& fn);

  const TaskTableCounters& counters() const noexcept { return counters_; }

 private:
  std::uint64_t next_id_ = 1;
  std::deque<TaskRecord> pending_;
  std::unordered_map<std::uint64_t, TaskRecord> in_flight_;
  TaskTableCounters counters_;
};

}  // namespace rfarm::farm

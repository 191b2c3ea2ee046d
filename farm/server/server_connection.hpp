// ServerConnection<S>: one client of a FarmServer, on one core, over a StreamSocket (tcp:, unix:) or a
// TlsStream (tls:). The state machine of farm/PROTOCOL.md's server side:
//
//   tls_handshake --(TLS done)--> await_hello --(Hello accepted)--> serving --(SIGTERM / end of input)--> draining
//        |                            |  (refused: Welcome{accepted: false}, then)                           |
//        +----------------------------+-----------------------------------------------------------------> closed
//
// Every change goes through enter(); its entry actions are the only place timers start and the socket closes,
// and the one place a connection's end is logged (one line, with the reason).
//
// Tasks (server_connection_tasks.cpp): an offloaded task is in offloaded_ until answered; a Cancel (feature cancel)
// answers a task still queued for a worker with Failure{cancelled} at once and the worker never runs it; a task
// already running (and every inline task, which runs inside its frame's handling) cannot be interrupted: it sees
// the request through TaskContext::should_stop() or runs to its end. A deadline (feature deadlines) that passed
// before a worker starts the task answers Failure{deadline_exceeded} without running it. A task id reused while
// in flight is a protocol error. A closing connection cancels its queued tasks.
//
// Reading: the frames of one receive are handled in one batch (FrameReader::next_batch), each verified by the
// farm decoder; an inline task runs at once, any other task's arguments are copied and the call offloaded to
// the runtime's workers, its answer encoded back on this core. Answers of a turn accumulate in one buffer that
// joins the SendQueue, so they leave together in one send. Reading stops while the connection has
// max_tasks_in_flight tasks out or max_queued_output bytes unsent (the client's further frames wait in the
// socket buffers); a client that does not read for write_stall_timeout is closed.
//
// Lifetime: owned by shared_ptr; the reading coroutine holds one reference, every offloaded task another, so the
// object outlives a closed socket until its last task has come back (its answer is then dropped).
#pragma once

#include <coroutine>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "farm/protocol/frame_decoder.hpp"
#include "farm/server/core_state.hpp"
#include "farm/server/farm_server.hpp"
#include "farm/server/task_ticket.hpp"
#include "lib/log.hpp"
#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/runtime/shutdown.hpp"
#include "reactor/stream/frame_reader.hpp"
#include "reactor/stream/send_queue.hpp"
#include "reactor/tls/tls_stream.hpp"

namespace rfarm::farm {

// Who the peer is, as far as the transport tells: decided at accept (Unix credentials) or after the TLS
// handshake (the certificate's subject).
struct PeerIdentity {
  bool authenticated = false;  // a TLS subject or Unix uid on the allow-list: may ship modules
  std::string refusal;         // non-empty: the Welcome refuses with this reason
};

namespace detail {

template <class S>
class ServerConnection : public std::enable_shared_from_this<ServerConnection<S>> {
 public:
  enum class State : std::uint8_t { tls_handshake, await_hello, serving, draining, closed };

  ServerConnection(FarmServer& server, CoreState& core, S stream, PeerIdentity peer);
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;
  ~ServerConnection();

  // Serves the connection to its end (spawn it on the connection's core; it holds the connection).
  static Task<void> serve(std::shared_ptr<ServerConnection> self);

  State state() const noexcept { return state_; }

 private:
  struct TaskAnswer;

  // The one transition function.
  void enter(State next);
  // Closes after what is queued has left (draining with no more input): refusals and protocol errors.
  void finish_after_output(std::string reason, LogLevel level);
  void close_now(std::string reason, LogLevel level);
  void protocol_error(std::string why);

  bool reading() const noexcept;
  bool reading_paused() const noexcept;
  void on_frame(ConstBytes payload);
  ConstBytes aligned_frame(ConstBytes payload);
  void on_hello(const wire::Hello& hello);
  void on_submit(const wire::Submit& submit);
  void on_cancel(const wire::Cancel& cancel);
  void cancel_queued_tasks() noexcept;
  std::shared_ptr<TaskTicket> find_offloaded(std::uint64_t id) const noexcept;
  void forget_offloaded(std::uint64_t id) noexcept;
  void on_module_transfer(const wire::ModuleTransfer& transfer);
  void on_module_installed(std::uint64_t transfer_id, const std::string& sha256,
                           OffloadResult<FarmResult<FarmServer::ModuleInstall>> done);
  void run_inline(std::uint64_t id, const TaskDescriptor& task, std::optional<TaskTicket::Clock::time_point> deadline,
                  ConstBytes args);
  void run_offloaded(std::uint64_t id, const TaskDescriptor& task,
                     std::optional<TaskTicket::Clock::time_point> deadline, ConstBytes args);
  void on_offloaded_answer(std::uint64_t id, const TaskTicket& ticket, TaskAnswer answer);
  void send_result(std::uint64_t id, std::string_view task, ConstBytes value);
  void send_failure(std::uint64_t id, FailureKind kind, std::string_view message, std::string_view task);
  void on_end_of_input();
  void task_finished();

  void flush_output();
  void after_output_drained();
  void maybe_finish_draining();
  void arm_idle_timer();
  bool stall_timer_armed() const noexcept { return stall_timer_ && stall_timer_->armed(); }
  void start_stall_timer(InplaceFunction<void()> on_stall);
  void on_idle_timer();
  std::string peer_name() const;

  // The reading coroutine waits here while reading is paused or the connection winds down.
  struct Wait {
    ServerConnection& connection;
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<> h) noexcept { connection.waiter_ = h; }
    void await_resume() const noexcept {}
  };
  // Resumes the reading coroutine at the end of this turn, never inside the caller.
  void wake() noexcept;
  static void resume_waiter(TurnHook& hook) noexcept;
  static void flush_at_end_of_turn(TurnHook& hook) noexcept;

  FarmServer& server_;
  CoreState& core_;
  S stream_;
  PeerIdentity peer_;
  State state_;
  std::uint64_t features_ = 0;    // granted in the Welcome
  bool input_done_ = false;       // end of stream, a read error, or nothing more will be read (refusal, error)
  bool counted_ = true;           // counted in the server's live connections until closed
  bool constructing_ = false;     // guard_ is being made
  LogLevel close_level_ = LogLevel::info;
  std::string close_reason_;
  std::uint64_t number_;          // for the log: "connection 3.17" (core.number)
  std::size_t in_flight_ = 0;     // tasks submitted and not yet answered
  Clock::time_point last_input_{};
  std::vector<std::byte> output_;  // answers of this turn, not yet on the send queue
  // Offloaded tasks not yet answered, by task id (server_connection_tasks.cpp). Made at the first offloaded task
  // and released when the last is answered: an idle connection holds no table (an empty unordered_map that once
  // held an entry keeps its bucket array).
  using OffloadedTasks = std::unordered_map<std::uint64_t, std::shared_ptr<TaskTicket>>;
  std::unique_ptr<OffloadedTasks> offloaded_;
  FrameReader<S> reader_;
  SendQueue send_;
  Timer deadline_timer_;  // handshake, then idle
  // Output not draining, or a drain taking too long: made when output backs up, released when it has drained
  // (an idle connection does not carry a second Timer, 112 B).
  std::unique_ptr<Timer> stall_timer_;
  std::optional<ConnectionGuard> guard_;  // the runtime's graceful shutdown sees this connection while open
  std::coroutine_handle<> waiter_;
  struct Hook : TurnHook {
    Hook(RunFn fn, ServerConnection* c) noexcept : TurnHook(fn), connection(c) {}
    ServerConnection* connection;
  };
  Hook wake_hook_{&ServerConnection::resume_waiter, this};
  Hook flush_hook_{&ServerConnection::flush_at_end_of_turn, this};
};

extern template class ServerConnection<StreamSocket>;
extern template class ServerConnection<TlsStream>;

}  // namespace detail
}  // namespace rfarm::farm

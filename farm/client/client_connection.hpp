// ClientConnection: the kernel's link to one server, on the kernel's loop. Obstinate, as lfarm's are: it connects,
// says Hello, serves while the server answers, and when anything breaks (refused, reset, a frozen server caught by
// the heartbeat, a protocol error) it backs off (exponential, with jitter) and connects again, forever, until the
// kernel closes it. It may be made before its server exists.
//
//   connecting --connected--> handshaking --Welcome accepted--> ready
//       ^                          |                              |
//       |                          +-------- failure -------------+--> backing_off --delay--> connecting
//   any state --stop()--> closed
//
// The kernel (ConnectionEvents) learns of each step: on_ready (give it tasks), on_answer (a Result or Failure),
// on_lost (its tasks move elsewhere), on_closed. Tasks go out through queue_submit(): their frames are appended to
// one buffer, which flush() hands to the SendQueue; everything queued in a loop turn leaves in one send.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "farm/client/farm_stream.hpp"
#include "farm/client/kernel_options.hpp"
#include "farm/client/task_record.hpp"
#include "farm/protocol/frame_encoder.hpp"
#include "farm/protocol/frame_reader.hpp"
#include "lib/task.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/stream/send_queue.hpp"

namespace rfarm::farm {

class ClientConnection;

class ConnectionEvents {
 public:
  virtual ~ConnectionEvents() = default;
  virtual void on_ready(ClientConnection& connection) = 0;
  virtual void on_answer(ClientConnection& connection, std::uint64_t task_id, RemoteResult answer) = 0;
  // The connection broke; nothing it had in flight will be answered on it.
  virtual void on_lost(ClientConnection& connection) = 0;
  // The server refused us (TLS or the Welcome; last_error() says why). The connection keeps trying, slowly.
  virtual void on_refused(ClientConnection& /*connection*/) {}
  // A ModuleAck (the frame, verified; valid during the call).
  virtual void on_module_ack(ClientConnection& /*connection*/, const wire::ModuleAck& /*ack*/) {}
  virtual void on_closed(ClientConnection& connection) = 0;
};

class ClientConnection {
 public:
  enum class State { connecting, handshaking, ready, backing_off, closed };

  // Connects to address: spec's own, or one its host name resolved to (a member of a ServerGroup; the spec then
  // still gives TLS the name to verify). group: the index of that group, kNoGroup for a spec with an address.
  static constexpr std::size_t kNoGroup = ~std::size_t{0};
  ClientConnection(Reactor& reactor, ConnectionEvents& events, const KernelOptions& options, ConnectionId id,
                   EndpointSpec spec, Address address, std::size_t group = kNoGroup,
                   const TlsContext* tls_context = nullptr);
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;
  ~ClientConnection();

  // Starts the connection's life (a coroutine on the loop).
  void start();
  // Ends it: whatever it is doing stops, and on_closed follows on a coming turn.
  void stop();
  // Its address left its group's DNS answer: it takes no new tasks, and stops once those in flight are answered
  // (KernelCore stops it then, or at once if it is not serving; lost, it does not reconnect).
  void retire() noexcept { retiring_ = true; }
  bool retiring() const noexcept { return retiring_; }

  State state() const noexcept { return state_; }
  ConnectionId id() const noexcept { return id_; }
  const std::string& name() const noexcept { return name_; }
  const Address& address() const noexcept { return address_; }
  std::size_t group() const noexcept { return group_; }
  std::size_t in_flight() const noexcept { return in_flight_; }
  std::size_t window() const noexcept { return window_; }
  std::uint64_t granted_features() const noexcept { return features_; }
  // Why the last attempt failed or the last session ended ("" before any failure).
  const std::string& last_error() const noexcept { return last_error_; }
  // The server refused us (TLS, or its Welcome), and no session started since; refusal() says why.
  bool refused() const noexcept { return !refusal_.empty(); }
  const std::string& refusal() const noexcept { return refusal_; }
  // Times this connection reached ready (1 after the first handshake).
  std::uint64_t sessions() const noexcept { return sessions_; }
  // Still on its first attempt (never ready, never failed): a broadcast waits for it to settle.
  bool settling() const noexcept {
    return sessions_ == 0 && failures_ == 0 && (state_ == State::connecting || state_ == State::handshaking);
  }
  // Frames sent in sends (for the syscall accounting: frames per send).
  std::uint64_t sends_started() const noexcept;

  // Appends a Submit frame for the record (which is now in flight here). Ready only.
  void queue_submit(const TaskRecord& record);
  // Module transfers sent on this session and not yet acknowledged. A server loads a module off its reactor, so
  // a Submit right behind the transfer could miss the task: the kernel gives tasks only to connections with none.
  std::size_t modules_loading() const noexcept { return modules_loading_; }
  void module_sent() noexcept { ++modules_loading_; }
  void module_answered() noexcept {
    if (modules_loading_ > 0) --modules_loading_;
  }
  // Ready and not retiring: a server that counts (broadcasts, modules, Kernel::wait_ready).
  bool serving() const noexcept { return state_ == State::ready && !retiring_; }
  // Serving, and not loading a module: may be given tasks.
  bool takes_tasks() const noexcept { return serving() && modules_loading_ == 0; }
  // Appends a ModuleTransfer frame; an error if it does not fit in one frame.
  std::error_code queue_module(std::uint64_t transfer_id, std::string_view name, std::string_view sha256,
                               std::span<const std::byte> bytes);
  // Appends a Cancel frame for the task in flight here under id, if this session's Welcome granted `cancel` (a
  // server that did not grant it ignores Cancel: PROTOCOL.md section 3); false if not sent.
  bool queue_cancel(std::uint64_t id);
  // Appends an EndServer frame.
  void queue_end_server(std::string_view reason);
  // Hands what was queued in this turn to the SendQueue.
  void flush();
  // An answer arrived for one of its tasks (the kernel counts; the frame handler does not know the records).
  void task_answered() noexcept {
    if (in_flight_ > 0) --in_flight_;
  }

 private:
  Task<void> run();
  Task<std::error_code> connect_once();
  Task<std::error_code> handshake();
  Task<void> serve();
  Task<void> back_off();
  // One transition function: every state change goes through it, and what a state's entry means happens here.
  void transition(State next);
  void close_socket() noexcept;
  // A verified frame while ready; false if the connection must close.
  bool handle_frame(const FrameView& frame);
  void on_heartbeat();
  void arm_heartbeat();

  Reactor& reactor_;
  ConnectionEvents& events_;
  const KernelOptions& options_;
  ConnectionId id_;
  EndpointSpec spec_;
  Address address_;
  std::size_t group_;
  std::string name_;
  const TlsContext* tls_context_;  // for tls: specs; owned by the kernel

  State state_ = State::connecting;
  bool stop_requested_ = false;
  bool retiring_ = false;
  bool running_ = false;
  std::size_t in_flight_ = 0;
  std::size_t modules_loading_ = 0;
  std::size_t window_;
  std::uint64_t features_ = 0;
  std::uint64_t sessions_ = 0;
  std::string last_error_;
  std::string refusal_;  // why the server refused us last; empty once a session starts

  FrameEncoder encoder_;
  FrameReader reader_;
  std::vector<std::byte> out_;

  // Failure detector.
  Timer heartbeat_;
  Clock::time_point last_frame_{};
  bool ping_outstanding_ = false;
  std::uint64_t next_nonce_ = 1;

  // Backoff.
  unsigned failures_ = 0;
  std::minstd_rand rng_;
  Timer sleep_timer_;
  std::coroutine_handle<> sleeper_;

  FarmStream stream_;
  std::unique_ptr<SendQueue> send_queue_;  // after stream_: destroyed first
  std::uint64_t sends_before_ = 0;          // sends of earlier sessions' queues
};

std::string_view to_string(ClientConnection::State state) noexcept;

}  // namespace rfarm::farm

// KernelCore: the kernel itself, on one reactor (the private engine thread of Kernel::start, or later the
// caller's own). It owns one ClientConnection per server, the TaskTable, and the dispatch step that runs at the
// end of every loop turn in which something changed: new tasks, answers that freed window space, a connection
// that became ready or was lost. Dispatch gives each pending task to the ready connection with the fewest tasks in
// flight (balancer.hpp) and appends its Submit frame to that connection's buffer; every connection then hands
// its buffer to its SendQueue, so a turn's frames leave in one send per connection.
//
// Everything here runs on the core's reactor; other threads go through Kernel (kernel.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "farm/client/balancer.hpp"
#include "farm/client/client_connection.hpp"
#include "farm/client/kernel_options.hpp"
#include "farm/client/module_shipper.hpp"
#include "farm/client/server_group.hpp"
#include "farm/client/task_record.hpp"
#include "reactor/dns/resolver.hpp"
#include "reactor/loop/reactor.hpp"

namespace rfarm::farm {

struct KernelStats {
  std::size_t servers = 0;            // connections: one per server spec, or per address of a host name's group
  std::size_t ready = 0;              // of which ready now
  std::size_t pending = 0;            // tasks waiting for a connection
  std::size_t in_flight = 0;          // tasks sent and not answered
  std::uint64_t submitted = 0;
  std::uint64_t completed = 0;        // answers that completed a task
  std::uint64_t resubmitted = 0;      // attempts moved from a lost connection
  std::uint64_t dropped_answers = 0;  // late or duplicate answers, dropped
  std::uint64_t cancelled = 0;             // tasks answered `cancelled` by cancel()
  std::uint64_t cancels_sent = 0;          // Cancel frames sent (only to servers that granted `cancel`)
  std::uint64_t answers_after_cancel = 0;  // server answers to cancelled tasks, dropped
  std::uint64_t sessions = 0;         // handshakes that succeeded, over every connection
  std::uint64_t sends = 0;            // sends started, over every connection (frames leave in batches)
  // Kernel::stats only (the blocking facade's inbox counts too): tasks handed to the kernel and not yet sent to a
  // server, now and at most so far (backpressure keeps it at KernelOptions::max_unsent).
  std::size_t unsent = 0;
  std::size_t max_unsent = 0;
};

class KernelCore final : public ConnectionEvents {
 public:
  KernelCore(Reactor& reactor, KernelOptions options);
  KernelCore(const KernelCore&) = delete;
  KernelCore& operator=(const KernelCore&) = delete;
  ~KernelCore() override;

  // Parses the server specs and starts a connection to each (a spec naming a host: a ServerGroup, which starts one
  // per address the name resolves to, now and at every re-resolution); a spec that does not parse (or a transport
  // the kernel does not speak) is the error, and nothing starts.
  std::error_code start();

  void submit(TaskRecord record);
  // A broadcast: one copy to every server ready when it is dispatched (it waits for the first server if none is);
  // the sink hears fanned_out(tag, n) first, then n answers.
  void broadcast(TaskRecord prototype);

  // Cancels the unanswered tasks whose sink is `sink` (a Future's one task, a Channel's all): each is answered
  // `cancelled` at once. A task not yet sent never touches the wire; one in flight is named in a Cancel frame if
  // its server granted `cancel`, and whatever that server answers later is dropped
  // (KernelStats::answers_after_cancel). False if there was none (every answer came first).
  bool cancel(const ResultSink* sink);

  // Sends a module to every server ready once the servers settle, and to every server that becomes ready later;
  // the sink hears each server's outcome.
  void load_module(ModuleShipment shipment);

  // Fails every task (cancelled: "the kernel closed"), stops every connection, and calls done once all are closed.
  void shutdown(std::function<void()> done);

  KernelStats stats() const;
  // Tasks handed to the core and not yet sent to a server (the attached kernel's backpressure gauge).
  std::size_t unsent() const noexcept { return table_.pending(); }
  // Called (on the core's reactor) with the number of pending tasks after every dispatch and expiry: the
  // facade's backpressure gauge.
  void on_unsent_changed(std::function<void(std::size_t)> observer) { unsent_observer_ = std::move(observer); }
  std::size_t ready_connections() const noexcept { return ready_.load(std::memory_order_relaxed); }
  // The same count, readable from any thread.
  const std::atomic<std::size_t>& ready_counter() const noexcept { return ready_; }
  const KernelOptions& options() const noexcept { return options_; }
  Reactor& reactor() noexcept { return reactor_; }

 private:
  void on_ready(ClientConnection& connection) override;
  void on_answer(ClientConnection& connection, std::uint64_t task_id, RemoteResult answer) override;
  void on_lost(ClientConnection& connection) override;
  void on_closed(ClientConnection& connection) override;
  void on_refused(ClientConnection& connection) override;
  void on_module_ack(ClientConnection& connection, const wire::ModuleAck& ack) override;
  // Fails the pending tasks and waiting broadcasts when every server refused us (TLS or Welcome).
  void fail_if_every_server_refuses();

  void request_dispatch() noexcept;
  static void run_dispatch(TurnHook& hook) noexcept;
  void dispatch();
  void dispatch_broadcasts();
  void on_maintenance();
  void count_ready() noexcept;
  void publish_unsent();
  // Server groups (host names): a new address gets a connection, a vanished one's connection retires.
  void on_group_changed(std::size_t group, std::span<const Address> added, std::span<const Address> removed);
  void add_connection(const EndpointSpec& spec, const Address& address, std::size_t group);
  // A retiring connection stops once nothing is in flight on it (or at once if it is not serving).
  void stop_if_retired(ClientConnection& connection);
  // Frees the slots of retired connections that have closed (their coroutines have ended).
  void free_retired();
  bool all_closed() const noexcept;

  Reactor& reactor_;
  KernelOptions options_;
  std::unique_ptr<Resolver> resolver_;  // made when a spec names a host
  std::optional<TlsContext> tls_context_;  // made when a spec is tls:
  // Indexed by ConnectionId. A slot is null once its retired connection closed, and reused for the next one: by
  // then the table holds no task in flight under that id (losing a connection requeues its tasks).
  std::vector<std::unique_ptr<ClientConnection>> connections_;
  std::vector<std::unique_ptr<ServerGroup>> groups_;
  std::vector<ConnectionLoad> loads_;  // scratch for the balancer
  TaskTable table_;
  std::vector<TaskRecord> broadcasts_waiting_;
  ModuleShipper modules_;
  std::atomic<std::size_t> ready_{0};
  std::uint64_t cancels_sent_ = 0;
  std::uint64_t retired_sessions_ = 0;  // the counters of connections whose slots were freed
  std::uint64_t retired_sends_ = 0;
  bool stopping_ = false;
  std::function<void()> on_all_closed_;
  std::function<void(std::size_t)> unsent_observer_;
  Timer maintenance_;

  struct DispatchHook : TurnHook {
    explicit DispatchHook(KernelCore* c) noexcept : TurnHook(&KernelCore::run_dispatch), core(c) {}
    KernelCore* core;
  } dispatch_hook_{this};
};

}  // namespace rfarm::farm

#include "farm/client/kernel_core.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "lib/error.hpp"
#include "reactor/net/endpoint.hpp"

namespace rfarm::farm {

namespace {

constexpr Duration kMaintenancePeriod = std::chrono::milliseconds(50);

void fail_record(TaskRecord& record, RemoteFailure failure) { record.finish(std::unexpected(std::move(failure))); }

}  // namespace

KernelCore::KernelCore(Reactor& reactor, KernelOptions options)
    : reactor_(reactor), options_(std::move(options)), maintenance_(reactor) {}

KernelCore::~KernelCore() {
  table_.drain_all([](TaskRecord& r) { fail_record(r, {FailureKind::cancelled, "the kernel closed", r.task}); });
  for (auto& b : broadcasts_waiting_) fail_record(b, {FailureKind::cancelled, "the kernel closed", b.task});
}

std::error_code KernelCore::start() {
  std::vector<EndpointSpec> specs;
  for (const std::string& text : options_.servers) {
    auto spec = EndpointSpec::parse_connect(text);
    if (!spec) {
      reactor_.log().error("farm: server '{}': {}", text, spec.error().message());
      return spec.error();
    }
    if (spec->transport != Transport::tcp && spec->transport != Transport::unix_stream &&
        spec->transport != Transport::tls) {
      reactor_.log().error("farm: server '{}': the kernel speaks tcp:, tls: and unix:", text);
      return make_error_code(std::errc::protocol_not_supported);
    }
    if (spec->transport == Transport::tls && !tls_context_) {
      auto context = make_farm_tls_context(options_.tls);
      if (!context) {
        reactor_.log().error("farm: server '{}': {}", text, context.error().message);
        return context.error().code;
      }
      tls_context_ = std::move(*context);
    }
    if (spec->has_host_name() && !resolver_) {
      auto resolver = Resolver::create(reactor_, options_.resolver);
      if (!resolver) return resolver.error();
      resolver_ = std::move(*resolver);
    }
    specs.push_back(std::move(*spec));
  }
  for (auto& spec : specs) {
    if (spec.has_host_name()) {
      std::size_t index = groups_.size();
      groups_.push_back(std::make_unique<ServerGroup>(
          reactor_, *resolver_, options_, std::move(spec),
          [this, index](ServerGroup&, std::span<const Address> added, std::span<const Address> removed) {
            on_group_changed(index, added, removed);
          }));
    } else {
      add_connection(spec, spec.address, ClientConnection::kNoGroup);
    }
  }
  for (auto& g : groups_) g->start();
  maintenance_.start(kMaintenancePeriod, [this] { on_maintenance(); });
  return {};
}

void KernelCore::add_connection(const EndpointSpec& spec, const Address& address, std::size_t group) {
  auto free = std::find(connections_.begin(), connections_.end(), nullptr);
  auto id = static_cast<ConnectionId>(free - connections_.begin());
  auto connection = std::make_unique<ClientConnection>(reactor_, *this, options_, id, spec, address, group,
                                                       tls_context_ ? &*tls_context_ : nullptr);
  ClientConnection& c = *connection;
  if (free == connections_.end()) connections_.push_back(std::move(connection));
  else *free = std::move(connection);
  loads_.resize(connections_.size());
  c.start();
}

void KernelCore::on_group_changed(std::size_t group, std::span<const Address> added, std::span<const Address> removed) {
  if (stopping_) return;
  for (const Address& a : removed) {
    for (auto& c : connections_) {
      if (!c || c->group() != group || c->retiring() || !(c->address() == a)) continue;
      reactor_.log().info("farm: {} left its name's answer: draining it", c->name());
      c->retire();
      stop_if_retired(*c);
    }
  }
  for (const Address& a : added) add_connection(groups_[group]->spec(), a, group);
  count_ready();
  request_dispatch();  // a new server takes a turn's tasks once ready; a broadcast may wait for it to settle
}

void KernelCore::stop_if_retired(ClientConnection& connection) {
  if (!connection.retiring()) return;
  // Serving with tasks in flight: they finish here (on_answer comes back). Otherwise nothing is lost by stopping:
  // leaving ready requeues whatever is still in flight, as a lost connection's tasks are.
  if (connection.state() == ClientConnection::State::ready && connection.in_flight() > 0) return;
  connection.stop();
}

void KernelCore::free_retired() {
  for (auto& c : connections_)
    if (c && c->retiring() && c->state() == ClientConnection::State::closed) {
      retired_sessions_ += c->sessions();
      retired_sends_ += c->sends_started();
      c.reset();
    }
}

bool KernelCore::all_closed() const noexcept {
  return std::all_of(connections_.begin(), connections_.end(),
                     [](const auto& c) { return !c || c->state() == ClientConnection::State::closed; });
}

void KernelCore::submit(TaskRecord record) {
  if (stopping_) return fail_record(record, {FailureKind::cancelled, "the kernel closed", record.task});
  if (record.policy.fail_after.count() > 0) record.fail_at = Clock::now() + record.policy.fail_after;
  table_.add_pending(std::move(record));
  request_dispatch();
}

void KernelCore::broadcast(TaskRecord prototype) {
  if (stopping_) return fail_record(prototype, {FailureKind::cancelled, "the kernel closed", prototype.task});
  if (prototype.policy.fail_after.count() > 0) prototype.fail_at = Clock::now() + prototype.policy.fail_after;
  prototype.broadcast = true;
  broadcasts_waiting_.push_back(std::move(prototype));
  request_dispatch();
}

bool KernelCore::cancel(const ResultSink* sink) {
  bool sent = false;
  std::size_t n = table_.cancel(sink, [&](std::uint64_t id, ConnectionId connection) {
    if (connection < connections_.size() && connections_[connection] && connections_[connection]->queue_cancel(id)) {
      ++cancels_sent_;
      sent = true;
    }
  });
  if (sent) request_dispatch();  // flushes the Cancel frames with whatever else this turn queues
  if (n > 0) publish_unsent();
  return n > 0;
}

void KernelCore::load_module(ModuleShipment shipment) {
  if (stopping_) {
    modules_.add(std::move(shipment));
    modules_.fail_all("the kernel closed");
    return;
  }
  modules_.add(std::move(shipment));
  request_dispatch();
}

void KernelCore::on_module_ack(ClientConnection& connection, const wire::ModuleAck& ack) {
  ModuleOutcome outcome{.accepted = ack.accepted(),
                        .already_loaded = ack.already_loaded(),
                        .module_name = ack.module_name() ? ack.module_name()->str() : std::string(),
                        .message = ack.message() ? ack.message()->str() : std::string()};
  if (ack.tasks() != nullptr)
    for (const auto* t : *ack.tasks()) outcome.tasks.push_back(t->str());
  modules_.on_ack(connection, ack.transfer_id(), std::move(outcome), reactor_.log());
  if (connection.modules_loading() == 0) request_dispatch();  // it takes tasks now
}

void KernelCore::shutdown(std::function<void()> done) {
  stopping_ = true;
  modules_.fail_all("the kernel closed");
  on_all_closed_ = std::move(done);
  maintenance_.cancel();
  for (auto& g : groups_) g->stop();
  table_.drain_all([](TaskRecord& r) { fail_record(r, {FailureKind::cancelled, "the kernel closed", r.task}); });
  for (auto& b : broadcasts_waiting_) fail_record(b, {FailureKind::cancelled, "the kernel closed", b.task});
  broadcasts_waiting_.clear();
  if (all_closed()) {
    if (on_all_closed_) std::exchange(on_all_closed_, {})();
    return;
  }
  for (auto& c : connections_)
    if (c) c->stop();
}

KernelStats KernelCore::stats() const {
  KernelStats s;
  s.servers = static_cast<std::size_t>(std::count_if(connections_.begin(), connections_.end(),
                                                    [](const auto& c) { return c != nullptr; }));
  s.ready = ready_.load(std::memory_order_relaxed);
  s.pending = table_.pending();
  s.in_flight = table_.in_flight();
  s.submitted = table_.counters().submitted;
  s.completed = table_.counters().completed;
  s.resubmitted = table_.counters().resubmitted;
  s.dropped_answers = table_.counters().dropped_answers;
  s.cancelled = table_.counters().cancelled;
  s.cancels_sent = cancels_sent_;
  s.answers_after_cancel = table_.counters().answers_after_cancel;
  for (const auto& c : connections_) {
    if (!c) continue;
    s.sessions += c->sessions();
    s.sends += c->sends_started();
  }
  s.sessions += retired_sessions_;
  s.sends += retired_sends_;
  return s;
}

void KernelCore::count_ready() noexcept {
  std::size_t n = 0;
  for (const auto& c : connections_) n += c && c->serving() ? 1 : 0;
  ready_.store(n, std::memory_order_relaxed);
}

void KernelCore::on_ready(ClientConnection& connection) {
  count_ready();
  modules_.on_ready(connection, reactor_.log());  // ahead of any task: its frames go first
  request_dispatch();
}

void KernelCore::on_answer(ClientConnection& connection, std::uint64_t task_id, RemoteResult answer) {
  connection.task_answered();
  request_dispatch();  // window space freed, whatever the answer was
  std::optional<TaskRecord> record = table_.complete(task_id);
  if (!record) return;  // late (its connection was declared dead and it was resubmitted), a duplicate, or cancelled
  if (!answer && answer.error().kind == FailureKind::overloaded && !record->broadcast) {
    // The one failure that guarantees the task did not start (PROTOCOL.md section 7): try again.
    table_.add_pending(std::move(*record));
    return;
  }
  record->finish(std::move(answer));
}

void KernelCore::on_lost(ClientConnection& connection) {
  count_ready();
  modules_.on_lost(connection);
  std::size_t moved = table_.requeue(connection.id(), Clock::now(), fail_record);
  if (moved > 0) reactor_.log().info("farm: {} tasks of {} go back to the queue", moved, connection.name());
  if (connection.retiring()) connection.stop();  // gone from DNS: no reconnecting
  request_dispatch();
}

void KernelCore::on_refused(ClientConnection&) {
  fail_if_every_server_refuses();
  publish_unsent();
}

void KernelCore::fail_if_every_server_refuses() {
  if (!table_.has_pending() && broadcasts_waiting_.empty()) return;
  std::string why;
  for (const auto& c : connections_) {
    if (!c || c->retiring()) continue;
    if (!c->refused()) return;  // another server may still take the work
    why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", c->name(), c->refusal());
  }
  if (why.empty()) return;  // no server (yet): a group may still resolve
  // Obstinacy is for servers that are away, not for servers that said no: the caller hears the refusal.
  auto refuse = [&](TaskRecord& r) { fail_record(r, {FailureKind::server_error, "every server refused us: " + why, r.task}); };
  table_.drain_pending(refuse);
  for (auto& b : broadcasts_waiting_) refuse(b);
  broadcasts_waiting_.clear();
}

void KernelCore::on_closed(ClientConnection&) {
  count_ready();
  // A retired connection's slot is freed by the maintenance timer (free_retired), once its coroutine has ended.
  if (stopping_ && all_closed() && on_all_closed_) {
    // Not from inside the connection's coroutine, which is still finishing: on a coming turn.
    reactor_.post([done = std::exchange(on_all_closed_, {})] { done(); });
  }
}

void KernelCore::request_dispatch() noexcept { reactor_.at_end_of_turn(dispatch_hook_); }

void KernelCore::run_dispatch(TurnHook& hook) noexcept { static_cast<DispatchHook&>(hook).core->dispatch(); }

void KernelCore::dispatch() {
  if (stopping_) return;
  if (ready_connections() == 0) fail_if_every_server_refuses();
  modules_.dispatch(connections_, Clock::now());
  dispatch_broadcasts();
  if (table_.has_pending()) {
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      const ClientConnection* c = connections_[i].get();
      loads_[i] = c ? ConnectionLoad{c->takes_tasks(), c->in_flight(), c->window()} : ConnectionLoad{};
    }
    while (table_.has_pending()) {
      std::optional<std::size_t> i = pick_least_loaded(loads_);
      if (!i) break;
      ClientConnection& c = *connections_[*i];
      c.queue_submit(table_.start_next(c.id()));
      loads_[*i].in_flight = c.in_flight();
    }
  }
  for (auto& c : connections_) {
    if (!c) continue;
    c->flush();
    // A retired server whose last task was answered in this turn: drained. (Here, not in on_answer: that runs
    // inside the connection's own receive loop, which must not have its socket closed under it.)
    stop_if_retired(*c);
  }
  publish_unsent();
}

void KernelCore::publish_unsent() {
  if (unsent_observer_) unsent_observer_(table_.pending());
}

void KernelCore::dispatch_broadcasts() {
  if (broadcasts_waiting_.empty() || ready_connections() == 0) return;
  // Every server means every server: a connection still on its first attempt is waited for (the maintenance
  // timer looks again); one that failed is not (lfarm broadcasts to the servers it has).
  for (const auto& c : connections_)
    if (c && (c->settling() || c->modules_loading() > 0)) return;
  for (const auto& g : groups_)
    if (!g->settled()) return;
  std::vector<TaskRecord> waiting = std::move(broadcasts_waiting_);
  broadcasts_waiting_.clear();
  for (TaskRecord& prototype : waiting) {
    std::size_t copies = 0;
    for (auto& c : connections_) copies += c && c->serving() ? 1 : 0;
    if (prototype.sink) prototype.sink->fanned_out(prototype.tag, copies);
    for (auto& c : connections_) {
      if (!c || !c->serving()) continue;
      TaskRecord copy;
      copy.task = prototype.task;
      copy.args = prototype.args;
      copy.policy = prototype.policy;
      copy.fail_at = prototype.fail_at;
      copy.sink = prototype.sink;
      copy.tag = prototype.tag;
      copy.broadcast = true;
      c->queue_submit(table_.start(std::move(copy), c->id()));
    }
  }
}

void KernelCore::on_maintenance() {
  Clock::time_point now = Clock::now();
  free_retired();
  if (table_.has_pending()) table_.expire_pending(now, fail_record);
  if (!broadcasts_waiting_.empty() || modules_.has_waiting()) request_dispatch();
  for (auto it = broadcasts_waiting_.begin(); it != broadcasts_waiting_.end();) {
    if (now >= it->fail_at) {
      fail_record(*it, {FailureKind::deadline_exceeded, "no server was ready before its fail-after deadline",
                        it->task});
      it = broadcasts_waiting_.erase(it);
    } else {
      ++it;
    }
  }
  publish_unsent();
  maintenance_.start(kMaintenancePeriod, [this] { on_maintenance(); });
}

}  // namespace rfarm::farm

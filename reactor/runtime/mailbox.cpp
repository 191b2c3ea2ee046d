#include "reactor/runtime/mailbox.hpp"

#include <cassert>
#include <exception>

namespace rfarm::detail {

Mailbox::Mailbox(unsigned core, std::span<Mailbox* const> peers, const MailboxOptions& options)
    : core_(core),
      peers_(peers),
      options_(options),
      inbound_(std::make_unique<std::atomic<Route*>[]>(peers.size())),
      outbound_(peers.size()) {
  for (std::size_t i = 0; i < peers.size(); ++i) inbound_[i].store(nullptr, std::memory_order_relaxed);
  dirty_targets_.reserve(peers.size());
}

Mailbox::~Mailbox() {
  // The routes into this core are this mailbox's; their destructors free what was never consumed.
  for (std::size_t i = 0; i < peers_.size(); ++i) delete inbound_[i].load(std::memory_order_relaxed);
}

void Mailbox::attach(Reactor& reactor) noexcept {
  reactor_ = &reactor;
  wake_through_ring_ = options_.wake != CrossCoreWake::eventfd;
  reactor.set_remote_inbox(this);
}

// ---------------------------------------------------------------------------------------------------------
// Producer side.

Mailbox::Route& Mailbox::route_to(unsigned target) {
  Outbound& out = outbound_[target];
  if (out.route == nullptr) {
    out.route = new Route(options_.queue_capacity);
    // Release: the target's first acquire load of the pointer sees a constructed queue.
    peers_[target]->inbound_[core_].store(out.route, std::memory_order_release);
  }
  return *out.route;
}

// The first message to a target, a full queue, an overflow in progress, or teardown.
void Mailbox::send_slow(unsigned target, CrossCoreMessage msg) {
  if (closed_) return;  // teardown: msg is destroyed here, on the sender's thread
  Outbound& out = outbound_[target];
  Route& route = route_to(target);
  if (out.overflow.empty() && !route.queue.try_push(std::move(msg))) {
    // Full: let the consumer see what is there now (it may be awake and drain it at once), then try again.
    publish_to(target);
    if (!out.overflow.empty() || !route.queue.try_push(std::move(msg))) {
      if (out.overflow.empty()) ++overflowing_targets_;
      out.overflow.push_back(std::move(msg));
      count(overflowed_);
    }
  } else if (!out.overflow.empty()) {
    out.overflow.push_back(std::move(msg));
    count(overflowed_);
  }
  pushed_to(target);
}

void Mailbox::publish_all(TurnHook& hook) noexcept {
  Mailbox& self = static_cast<PublishHook&>(hook).mailbox;
  // publish_to may not add targets (it does not send), so iterating by index over a stable vector is safe.
  for (unsigned target : self.dirty_targets_) {
    self.outbound_[target].dirty = false;
    self.publish_to(target);
  }
  self.dirty_targets_.clear();
}

void Mailbox::publish_to(unsigned target) noexcept {
  Outbound& out = outbound_[target];
  Route& route = *out.route;
  for (;;) {
    while (!out.overflow.empty() && route.queue.try_push(std::move(out.overflow.front()))) out.overflow.pop_front();
    if (route.queue.publish() > 0) wake_if_sleeping(*peers_[target]);
    if (out.overflow.empty()) return;
    // Ask the consumer to tell us when it frees slots; if it already has, go round again (the flag and the
    // re-read of its index are sequentially consistent against its store of the index and read of the flag).
    route.producer_waiting.store(true, std::memory_order_seq_cst);
    if (route.queue.full_for_producer()) return;
  }
}

void Mailbox::wake_if_sleeping(Mailbox& target) noexcept {
  // Read first: the exchange is a locked write on a line the target also writes, not worth paying per burst
  // while the target is awake.
  if (!target.sleeping_.load(std::memory_order_seq_cst)) return;
  if (!target.sleeping_.exchange(false, std::memory_order_acq_rel)) return;
  target.wakeups_.fetch_add(1, std::memory_order_relaxed);
  if (wake_through_ring_ && &target != this && reactor_->backend().wake_peer(target.reactor_->backend())) return;
  target.reactor_->wake();
}

void Mailbox::retry_overflow() noexcept {
  if (overflowing_targets_ == 0) return;
  std::size_t still = 0;
  for (unsigned target = 0; target < outbound_.size(); ++target) {
    Outbound& out = outbound_[target];
    if (out.overflow.empty()) continue;
    publish_to(target);
    if (!out.overflow.empty()) ++still;
  }
  overflowing_targets_ = still;
}

// ---------------------------------------------------------------------------------------------------------
// Consumer side.

void Mailbox::run_message(CrossCoreMessage& msg, Logger& log) noexcept {
  // No exception crosses a loop turn (as Reactor::spawn): the message that threw is logged and dropped.
  try {
    msg();
  } catch (const std::exception& e) {
    log.error("cross-core message ended by exception: {}", e.what());
  } catch (...) {
    log.error("cross-core message ended by a non-standard exception");
  }
}

void Mailbox::run() noexcept {
  if (running_) return;
  running_ = true;
  if (space_freed_.load(std::memory_order_relaxed) && space_freed_.exchange(false, std::memory_order_acq_rel))
    retry_overflow();
  run_inbound();
  run_completions();
  running_ = false;
}

void Mailbox::run_inbound() noexcept {
  Logger& log = reactor_->log();
  std::uint64_t ran = 0;
  for (std::size_t source = 0; source < peers_.size(); ++source) {
    Route* route = inbound_[source].load(std::memory_order_acquire);
    if (route == nullptr) continue;
    const std::size_t n = route->queue.consume(options_.batch_limit, [&](CrossCoreMessage& msg) { run_message(msg, log); });
    ran += n;
    if (n == 0 || !route->producer_waiting.load(std::memory_order_seq_cst)) continue;
    if (!route->producer_waiting.exchange(false, std::memory_order_acq_rel)) continue;
    Mailbox& producer = *peers_[source];
    producer.space_freed_.store(true, std::memory_order_seq_cst);
    if (&producer != this) wake_if_sleeping(producer);
  }
  if (ran != 0) count(messages_run_, ran);
}

void Mailbox::run_completions() noexcept {
  if (completed_.load(std::memory_order_relaxed) == nullptr) return;
  // The stack holds them newest first: reverse, so they are delivered in the order they finished.
  RemoteCompletion* stack = completed_.exchange(nullptr, std::memory_order_acquire);
  RemoteCompletion* fifo = nullptr;
  while (stack != nullptr) {
    RemoteCompletion* next = stack->next_completed;
    stack->next_completed = fifo;
    fifo = stack;
    stack = next;
  }
  std::uint64_t ran = 0;
  while (fifo != nullptr) {
    RemoteCompletion* next = fifo->next_completed;
    fifo->deliver(*fifo);  // may free fifo
    fifo = next;
    ++ran;
  }
  count(completions_run_, ran);
}

void Mailbox::push_completion(RemoteCompletion& done) noexcept {
  RemoteCompletion* head = completed_.load(std::memory_order_relaxed);
  do {
    done.next_completed = head;
  } while (!completed_.compare_exchange_weak(head, &done, std::memory_order_seq_cst, std::memory_order_relaxed));
  // Not a core: no MSG_RING of our own to send, so the wake-up is always the eventfd.
  if (!sleeping_.load(std::memory_order_seq_cst)) return;
  if (!sleeping_.exchange(false, std::memory_order_acq_rel)) return;
  wakeups_.fetch_add(1, std::memory_order_relaxed);
  reactor_->wake();
}

bool Mailbox::ready() const noexcept {
  if (space_freed_.load(std::memory_order_seq_cst)) return true;
  if (completed_.load(std::memory_order_seq_cst) != nullptr) return true;
  for (std::size_t source = 0; source < peers_.size(); ++source) {
    const Route* route = inbound_[source].load(std::memory_order_acquire);
    if (route != nullptr && route->queue.has_published()) return true;
  }
  return false;
}

bool Mailbox::announce_sleep() noexcept {
  sleeping_.store(true, std::memory_order_seq_cst);
  if (!ready()) return true;
  sleeping_.store(false, std::memory_order_relaxed);
  return false;
}

// ---------------------------------------------------------------------------------------------------------
// Teardown and statistics.

void Mailbox::drop_pending() noexcept {
  closed_ = true;
  for (std::size_t source = 0; source < peers_.size(); ++source) {
    Route* route = inbound_[source].load(std::memory_order_acquire);
    if (route == nullptr) continue;
    // Destroyed, not run: what they own (sockets, frames' call blocks) is released on this core.
    while (route->queue.consume(options_.batch_limit, [](CrossCoreMessage&) {}) != 0) {
    }
  }
  for (Outbound& out : outbound_) out.overflow.clear();
  RemoteCompletion* stack = completed_.exchange(nullptr, std::memory_order_acquire);
  while (stack != nullptr) {
    RemoteCompletion* next = stack->next_completed;
    stack->drop(*stack);
    stack = next;
  }
}

Mailbox::Stats Mailbox::stats() const noexcept {
  return {messages_run_.load(std::memory_order_relaxed), completions_run_.load(std::memory_order_relaxed),
          wakeups_.load(std::memory_order_relaxed), overflowed_.load(std::memory_order_relaxed)};
}

}  // namespace rfarm::detail

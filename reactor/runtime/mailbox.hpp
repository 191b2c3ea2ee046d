// Mailbox: a core's end of the cross-core message routes, and its reactor's lock-free inbox.
//
// Every core has one. As a consumer it has one inbound CrossCoreQueue per source core (itself included),
// made by the source on its first message, so memory goes only to pairs of cores that talk. As a producer
// it keeps, per target, the queue it fills, an overflow FIFO for when that queue is full, and whether it has
// pushed since its last publish. Pushes are published once per loop turn (an end-of-turn hook) or when a
// queue fills up, so a burst of messages to one core costs one index store and at most one wake-up.
//
// Wake-up protocol (one per burst, none while the target is busy). A reactor about to block announces it:
// `sleeping = true`, then it looks at every inbound queue; a producer publishes, then looks at `sleeping`.
// Both sides use sequentially consistent operations, so at least one of them sees the other: either the
// consumer finds the message and does not block, or the producer finds `sleeping`, clears it (exchange: only
// one producer wins) and wakes the target's backend. That wake-up is an eventfd write, or for two io_uring
// reactors an IORING_OP_MSG_RING from the producer's own ring (Backend::wake_peer), which leaves with the
// producer's next submit and so costs it no syscall. A spinning reactor (ReactorOptions::spin) never
// announces sleep, so producers never wake it: it finds the messages by polling.
//
// A full queue never blocks and never drops: further messages to that target wait in the producer's
// overflow FIFO (order is kept: while it is non-empty, new messages queue behind it). The producer raises the
// queue's `producer_waiting` flag; the consumer, having freed slots, clears it and wakes the producer, which
// moves the overflow in. Overflow is the producer's own memory, so a slow consumer costs its producers
// memory in proportion to what they send it; bound that upstream (offload() does: a limit per core).
//
// Threads that are not cores (offload workers) hand this core finished work through a lock-free stack of
// RemoteCompletions, delivered in the same turn pass and covered by the same wake-up protocol.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "reactor/loop/reactor.hpp"
#include "reactor/runtime/cross_core_queue.hpp"
#include "reactor/runtime/message.hpp"

namespace rfarm {

// How a core wakes a sleeping core it sent messages to.
enum class CrossCoreWake : std::uint8_t {
  automatic,  // MSG_RING between two io_uring reactors where the kernel has it, else eventfd
  eventfd,    // always the target's eventfd (Reactor::wake)
  msg_ring,   // same as automatic; named so a benchmark can ask for it explicitly
};

namespace detail {

// Work finished by a thread that is not a core (an offload worker), to be delivered on its core.
struct RemoteCompletion {
  using Fn = void (*)(RemoteCompletion&) noexcept;
  RemoteCompletion* next_completed = nullptr;
  Fn deliver = nullptr;  // runs on the core, from its loop
  Fn drop = nullptr;     // the runtime is going away: free it without running anything
};

struct MailboxOptions {
  std::size_t queue_capacity = 256;  // slots per ordered pair of cores (64 bytes each)
  std::size_t batch_limit = 256;     // messages run per source per turn
  CrossCoreWake wake = CrossCoreWake::automatic;
};

class Mailbox final : public RemoteInbox {
 public:
  // peers: every core's mailbox, indexed by core (this one included); must outlive this mailbox.
  Mailbox(unsigned core, std::span<Mailbox* const> peers, const MailboxOptions& options);
  ~Mailbox() override;
  Mailbox(const Mailbox&) = delete;
  Mailbox& operator=(const Mailbox&) = delete;

  unsigned core() const noexcept { return core_; }
  unsigned core_count() const noexcept { return static_cast<unsigned>(peers_.size()); }

  // On this core's thread, once its reactor exists and before its loop runs: installs the inbox.
  void attach(Reactor& reactor) noexcept;
  Reactor& reactor() const noexcept { return *reactor_; }

  // Sends fn to target's core (this thread must be this mailbox's core). Runs there in a coming turn, after
  // every message this core sent there before. Never blocks, never fails; after close() the message is
  // destroyed here instead. The common case builds the message in its queue slot, with no temporary.
  template <class F>
  void send(unsigned target, F&& fn) {
    assert(target < outbound_.size());
    Outbound& out = outbound_[target];
    if (out.route != nullptr && out.overflow.empty() && out.route->queue.try_emplace(std::forward<F>(fn))) {
      pushed_to(target);
      return;
    }
    send_slow(target, CrossCoreMessage(std::forward<F>(fn)));  // try_emplace left fn untouched
  }

  // Any thread: queues a finished job for delivery on this core, waking it if it sleeps.
  void push_completion(RemoteCompletion& done) noexcept;

  // Teardown, on this core's thread, after every core's loop has ended: close() makes later sends destroy
  // their message on the spot; once every mailbox is closed, drop_pending() destroys what was never run
  // (inbound messages, overflow, remote completions through their drop()).
  void close() noexcept {
    closed_ = true;
    for (Outbound& out : outbound_) out.route = nullptr;  // every send now takes send_slow, which drops it
  }
  void drop_pending() noexcept;

  // RemoteInbox, called by the reactor.
  void run() noexcept override;
  bool ready() const noexcept override;
  bool announce_sleep() noexcept override;
  void end_sleep() noexcept override { sleeping_.store(false, std::memory_order_relaxed); }

  struct Stats {
    std::uint64_t messages_run = 0;       // cross-core messages this core ran
    std::uint64_t completions_run = 0;    // remote completions delivered on this core
    std::uint64_t wakeups = 0;            // times a producer woke this core from a blocking wait
    std::uint64_t overflowed = 0;         // messages this core sent that had to wait in its overflow
  };
  // Any thread (the counters are read without stopping the core; each is exact once the core is idle).
  Stats stats() const noexcept;

 private:
  // The queue from one source to one target, with the flag the source raises when it has overflow waiting.
  struct Route {
    explicit Route(std::size_t capacity) : queue(capacity) {}
    CrossCoreQueue<CrossCoreMessage> queue;
    alignas(kCacheLine) std::atomic<bool> producer_waiting{false};
  };
  // This core's sending state towards one target; touched by this core only.
  struct Outbound {
    Route* route = nullptr;
    std::deque<CrossCoreMessage> overflow;
    bool dirty = false;  // pushed or overflowed since the last publish
  };

  void send_slow(unsigned target, CrossCoreMessage msg);
  void pushed_to(unsigned target) noexcept {
    Outbound& out = outbound_[target];
    if (!out.dirty) {
      out.dirty = true;
      dirty_targets_.push_back(target);  // reserved for every target: never allocates
    }
    reactor_->at_end_of_turn(publish_hook_);
  }
  static void publish_all(TurnHook& hook) noexcept;
  Route& route_to(unsigned target);
  void publish_to(unsigned target) noexcept;
  void wake_if_sleeping(Mailbox& target) noexcept;
  void run_inbound() noexcept;
  void run_completions() noexcept;
  void retry_overflow() noexcept;
  static void run_message(CrossCoreMessage& msg, Logger& log) noexcept;
  static void count(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  const unsigned core_;
  const std::span<Mailbox* const> peers_;
  const MailboxOptions options_;
  Reactor* reactor_ = nullptr;
  bool wake_through_ring_ = false;

  // Consumer side: inbound_[source], written once by the source core.
  std::unique_ptr<std::atomic<Route*>[]> inbound_;
  // Producer side, this core only.
  std::vector<Outbound> outbound_;
  std::vector<unsigned> dirty_targets_;
  std::size_t overflowing_targets_ = 0;
  struct PublishHook : TurnHook {
    explicit PublishHook(Mailbox& m) noexcept : TurnHook(&Mailbox::publish_all), mailbox(m) {}
    Mailbox& mailbox;
  } publish_hook_{*this};
  bool running_ = false;  // run() is on the stack: a nested loop turn (block_on in a message) must not re-enter
  bool closed_ = false;

  // Shared with producers and workers, each on its own line.
  alignas(kCacheLine) std::atomic<bool> sleeping_{false};
  alignas(kCacheLine) std::atomic<bool> space_freed_{false};  // a consumer freed room for our overflow
  alignas(kCacheLine) std::atomic<RemoteCompletion*> completed_{nullptr};
  alignas(kCacheLine) std::atomic<std::uint64_t> wakeups_{0};
  std::atomic<std::uint64_t> messages_run_{0};
  std::atomic<std::uint64_t> completions_run_{0};
  std::atomic<std::uint64_t> overflowed_{0};
};

}  // namespace detail
}  // namespace rfarm

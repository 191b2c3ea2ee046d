#include "reactor/runtime/shutdown.hpp"

#include <utility>

#include "reactor/runtime/core_binding.hpp"

namespace rfarm {

namespace {
detail::ShutdownRegistry* this_core_registry() noexcept {
  detail::CoreBinding* here = detail::current_core();
  return here != nullptr ? here->shutdown : nullptr;
}
}  // namespace

AcceptorGuard::AcceptorGuard(InplaceFunction<void()> stop_accepting) : stop_accepting_(std::move(stop_accepting)) {
  if (detail::ShutdownRegistry* registry = this_core_registry()) registry->add(*this);
}

AcceptorGuard::~AcceptorGuard() {
  if (registry_ != nullptr) registry_->remove(*this);
}

ConnectionGuard::ConnectionGuard(InplaceFunction<void()> close_now) : close_now_(std::move(close_now)) {
  if (detail::ShutdownRegistry* registry = this_core_registry()) registry->add(*this);
}

ConnectionGuard::~ConnectionGuard() {
  if (registry_ != nullptr) registry_->remove(*this);
}

bool ConnectionGuard::draining() const noexcept { return draining_; }

namespace detail {

ShutdownRegistry::~ShutdownRegistry() {
  // Guards that outlive the registry (frames destroyed with the reactor) must not reach back into it.
  while (!acceptors_.empty()) acceptors_.pop_front().registry_ = nullptr;
  while (!connections_.empty()) connections_.pop_front().registry_ = nullptr;
}

void ShutdownRegistry::add(AcceptorGuard& a) noexcept {
  if (phase_ != Phase::serving) {  // made while shutting down: it stops at once
    auto stop = std::move(a.stop_accepting_);
    if (stop) stop();
    return;
  }
  a.registry_ = this;
  acceptors_.push_back(a);
  ++acceptor_count_;
}

void ShutdownRegistry::remove(AcceptorGuard& a) noexcept {
  IntrusiveList<AcceptorGuard>::unlink(a);
  a.registry_ = nullptr;
  --acceptor_count_;
}

void ShutdownRegistry::add(ConnectionGuard& c) noexcept {
  if (phase_ == Phase::closing || phase_ == Phase::done) {  // past the deadline: no new connection lives
    auto close_now = std::move(c.close_now_);
    c.draining_ = true;
    if (close_now) close_now();
    return;
  }
  c.registry_ = this;
  c.draining_ = phase_ == Phase::draining;
  connections_.push_back(c);
  ++connection_count_;
}

void ShutdownRegistry::remove(ConnectionGuard& c) noexcept {
  IntrusiveList<ConnectionGuard>::unlink(c);
  c.registry_ = nullptr;
  --connection_count_;
  if (connection_count_ == 0 && phase_ == Phase::draining) enter(Phase::done);
}

void ShutdownRegistry::begin(Clock::time_point deadline, std::function<void()> on_done) {
  if (phase_ != Phase::serving) return;
  on_done_ = std::move(on_done);
  deadline_ = deadline;
  enter(Phase::draining);
}

void ShutdownRegistry::reset() noexcept { enter(Phase::serving); }

void ShutdownRegistry::enter(Phase next) noexcept {
  phase_ = next;
  switch (next) {
    case Phase::serving:
      deadline_timer_.cancel();
      on_done_ = nullptr;
      return;

    case Phase::draining: {
      while (!acceptors_.empty()) {
        AcceptorGuard& a = acceptors_.pop_front();
        a.registry_ = nullptr;
        --acceptor_count_;
        auto stop = std::move(a.stop_accepting_);  // a local: stopping may destroy the guard
        if (stop) stop();
      }
      // Each connection goes back on the list before its on_drain runs, so one that ends itself in there
      // unlinks itself like any other.
      IntrusiveList<ConnectionGuard> notify;
      notify.splice_back(connections_);
      while (!notify.empty()) {
        ConnectionGuard& c = notify.pop_front();
        connections_.push_back(c);
        c.draining_ = true;
        auto on_drain = std::move(c.on_drain_);
        if (on_drain) on_drain();
      }
      if (phase_ != Phase::draining) return;  // an on_drain closed the last connection: already done
      if (connection_count_ == 0) {
        enter(Phase::done);
        return;
      }
      const Clock::time_point now = Clock::now();
      deadline_timer_.start(deadline_ > now ? deadline_ - now : Duration(0), [this] { enter(Phase::closing); });
      return;
    }

    case Phase::closing:
      while (!connections_.empty()) {
        ConnectionGuard& c = connections_.pop_front();
        c.registry_ = nullptr;
        --connection_count_;
        auto close_now = std::move(c.close_now_);
        if (close_now) close_now();
      }
      // Done at the end of this turn: the operations those closes cancelled complete first (their
      // coroutines see operation_canceled and end) in this same turn.
      reactor_.at_end_of_turn(finish_hook_);
      return;

    case Phase::done: {
      deadline_timer_.cancel();
      auto on_done = std::move(on_done_);
      on_done_ = nullptr;
      if (on_done) on_done();
      return;
    }
  }
}

void ShutdownRegistry::finish_after_closing(TurnHook& hook) noexcept {
  ShutdownRegistry& self = static_cast<FinishHook&>(hook).registry;
  if (self.phase_ == Phase::closing) self.enter(Phase::done);
}

}  // namespace detail
}  // namespace rfarm

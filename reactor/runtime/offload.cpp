#include "reactor/runtime/offload.hpp"

namespace rfarm::detail {

OffloadGate::~OffloadGate() {
  while (!waiting_.empty()) {
    GatedJob& job = waiting_.pop_front();
    job.drop(job);  // a callback's job is freed; an awaited one is left to its awaiter
  }
}

void OffloadGate::submit(GatedJob& job) noexcept {
  job.origin = &mailbox_;
  job.gate = this;
  if (waiting_.empty() && in_flight_ < limit_ && admit(job)) return;
  job.state = OffloadState::waiting;
  waiting_.push_back(job);
  ++waiting_count_;
}

bool OffloadGate::admit(GatedJob& job) noexcept {
  // The pool's queue holds every core's limit, so this fails only if the runtime mis-sized it; the job
  // then waits for this core's next completion like one over the limit.
  if (!pool_.submit(job)) return false;
  job.state = OffloadState::submitted;
  ++in_flight_;
  ++submitted_this_turn_;
  reactor_.at_end_of_turn(wake_hook_);
  return true;
}

void OffloadGate::finished() noexcept {
  --in_flight_;
  while (!waiting_.empty() && in_flight_ < limit_) {
    GatedJob& next = waiting_.front();
    if (!admit(next)) break;
    IntrusiveList<GatedJob>::unlink(next);
    --waiting_count_;
  }
}

void OffloadGate::withdraw(GatedJob& job) noexcept {
  IntrusiveList<GatedJob>::unlink(job);
  --waiting_count_;
  job.state = OffloadState::created;
}

void OffloadGate::wake_workers(TurnHook& hook) noexcept {
  OffloadGate& gate = static_cast<WakeHook&>(hook).gate;
  gate.pool_.wake(gate.submitted_this_turn_);
  gate.submitted_this_turn_ = 0;
}

}  // namespace rfarm::detail

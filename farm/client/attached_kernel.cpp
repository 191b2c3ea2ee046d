#include "farm/client/attached_kernel.hpp"

#include "farm/client/kernel.hpp"

namespace rfarm::farm {

Result<AttachedKernel> Kernel::attach(Reactor& reactor, KernelOptions options) {
  auto core = std::make_unique<KernelCore>(reactor, std::move(options));
  if (std::error_code ec = core->start()) return fail(ec);
  return AttachedKernel(std::move(core));
}

namespace detail {

void Room::update(std::size_t unsent) {
  unsent_ = unsent;
  if (has_room()) wake();
}

void Room::close() {
  closed_ = true;
  wake();
}

void Room::wake() {
  if (waiters_.empty()) return;
  woken_.insert(woken_.end(), waiters_.begin(), waiters_.end());
  waiters_.clear();
  if (std::exchange(resume_posted_, true)) return;
  // Not inline: the count changes inside the kernel's dispatch, which a resumed coroutine must not re-enter.
  reactor_->post([weak = self_] {
    if (auto room = weak.lock()) room->resume_woken();
  });
}

void Room::resume_woken() {
  resume_posted_ = false;
  while (!woken_.empty()) {
    Awaitable* a = woken_.front();
    woken_.erase(woken_.begin());
    a->handle_.resume();  // may submit (changing unsent_), wait again, or destroy other waiters (forget)
  }
}

void Room::forget(Awaitable* a) noexcept {
  std::erase(waiters_, a);
  std::erase(woken_, a);
}

}  // namespace detail

AttachedKernel::AttachedKernel(std::unique_ptr<KernelCore> core)
    : core_(std::move(core)), room_(std::make_shared<detail::Room>(core_->reactor(), core_->options().max_unsent)) {
  room_->self_ = room_;
  core_->on_unsent_changed([room = room_](std::size_t n) { room->update(n); });  // the core may outlive us
}

void AttachedKernel::hand_over(TaskRecord record) {
  core_->submit(std::move(record));
  room_->update(core_->unsent());
}

void AttachedKernel::fail_closed(TaskRecord& record) {
  record.finish(std::unexpected(RemoteFailure{FailureKind::cancelled, "the kernel closed", record.task}));
}

AttachedKernel::~AttachedKernel() {
  if (room_) room_->close();
  if (!core_ || closed_) return;
  // Its connections' coroutines are suspended on the reactor: the core must outlive them, so it frees itself
  // when shutdown reports them all closed (a posted callback, on a coming turn).
  KernelCore* core = core_.release();
  core->shutdown([core] { core->reactor().post([core] { delete core; }); });
}

Task<void> AttachedKernel::close() {
  if (!core_ || closed_) co_return;
  closed_ = true;
  room_->close();  // producers waiting for room: their tasks fail `cancelled`
  struct Closed {
    KernelCore* core;
    bool done = false;
    std::coroutine_handle<> waiter;
    bool await_ready() const noexcept { return done; }
    void await_suspend(std::coroutine_handle<> h) noexcept { waiter = h; }
    void await_resume() const noexcept {}
  } closed{.core = core_.get(), .done = false, .waiter = {}};
  core_->shutdown([&closed] {
    closed.done = true;
    if (closed.waiter) closed.core->reactor().post([h = closed.waiter] { h.resume(); });
  });
  co_await closed;
  core_.reset();  // on a later turn than the connections' last steps
}

}  // namespace rfarm::farm

#include "farm/client/attached_kernel.hpp"

#include "farm/client/kernel.hpp"

namespace rfarm::farm {

Result<AttachedKernel> Kernel::attach(Reactor& reactor, KernelOptions options) {
  auto core = std::make_unique<KernelCore>(reactor, std::move(options));
  if (std::error_code ec = core->start()) return fail(ec);
  return AttachedKernel(std::move(core));
}

AttachedKernel::~AttachedKernel() {
  if (!core_ || closed_) return;
  // Its connections' coroutines are suspended on the reactor: the core must outlive them, so it frees itself
  // when shutdown reports them all closed (a posted callback, on a coming turn).
  KernelCore* core = core_.release();
  core->shutdown([core] { core->reactor().post([core] { delete core; }); });
}

Task<void> AttachedKernel::close() {
  if (!core_ || closed_) co_return;
  closed_ = true;
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

// CallbackCoroutine: a coroutine handle whose resume() calls a function.
//
// Awaitables (a socket's recv, a TLS send) resume a std::coroutine_handle<> when they complete. A plain object
// that wants to wait on one - a protocol reader's state machine, an adapter that loops over several
// receives - has no coroutine of its own to hand over. A CallbackCoroutine is one: a tiny frame, allocated
// once when it is made and reused for every wait, whose every resumption calls fn(context).
//
//     CallbackCoroutine resumer = CallbackCoroutine::make();
//     resumer.set(&Reader::on_received, this);
//     if (!recv_awaiter.await_ready() && recv_awaiter.await_suspend(resumer.handle())) return;  // waits
//
// fn runs while the frame is suspended (so it may destroy the CallbackCoroutine), and returns the coroutine
// to transfer to next: the user's coroutine once the work is done (symmetric transfer), or
// std::noop_coroutine() to return to whoever resumed the handle. One wait at a time: the handle must not be
// resumed again while fn runs.
#pragma once

#include <coroutine>
#include <exception>
#include <utility>

namespace rfarm {

class CallbackCoroutine {
 public:
  using Fn = std::coroutine_handle<> (*)(void* context) noexcept;

  CallbackCoroutine() noexcept = default;
  CallbackCoroutine(CallbackCoroutine&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  CallbackCoroutine& operator=(CallbackCoroutine&& other) noexcept {
    if (this != &other) {
      destroy();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  ~CallbackCoroutine() { destroy(); }

  // Allocates the frame (the only allocation; it may throw std::bad_alloc).
  static CallbackCoroutine make() { return body(); }

  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

  // What the next resumption calls.
  void set(Fn fn, void* context) noexcept {
    handle_.promise().fn = fn;
    handle_.promise().context = context;
  }
  std::coroutine_handle<> handle() const noexcept { return handle_; }

  struct promise_type {
    Fn fn = nullptr;
    void* context = nullptr;
    CallbackCoroutine get_return_object() noexcept {
      return CallbackCoroutine(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() const noexcept { return {}; }
    std::suspend_always final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
  };

 private:
  explicit CallbackCoroutine(std::coroutine_handle<promise_type> h) noexcept : handle_(h) {}

  // Suspends, then calls fn: fn runs with the frame suspended, and its answer is where control goes next.
  struct Call {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> self) const noexcept {
      return self.promise().fn(self.promise().context);
    }
    void await_resume() const noexcept {}
  };

  static CallbackCoroutine body() {
    for (;;) co_await Call{};  // every resumption (the first one included) makes exactly one call
  }

  void destroy() noexcept {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  std::coroutine_handle<promise_type> handle_;
};

}  // namespace rfarm

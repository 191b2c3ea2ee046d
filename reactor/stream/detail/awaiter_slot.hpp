// Internal to reactor/stream: what lets an adapter await a stream's own operations without a coroutine frame.
//
// AwaiterSlot<A...> is room for one awaiter of any of the types A, made in place (a socket's awaiter cannot be
// moved: the backend holds its address). start_awaiter() starts one with a given continuation - the user's
// coroutine, or a CallbackCoroutine (lib/callback_coroutine.hpp) when the adapter must look at the result
// before deciding whether to wait again.
#pragma once

#include <algorithm>
#include <coroutine>
#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace rfarm::detail {

template <class... A>
class AwaiterSlot {
 public:
  AwaiterSlot() noexcept = default;
  AwaiterSlot(const AwaiterSlot&) = delete;
  AwaiterSlot& operator=(const AwaiterSlot&) = delete;
  ~AwaiterSlot() { reset(); }

  // Destroys the awaiter held (abandoning its operation if it is still pending), then makes a T from make().
  template <class T, class Make>
  T& emplace(Make&& make) {
    static_assert((std::is_same_v<T, A> || ...), "not one of the slot's types");
    reset();
    T* made = ::new (static_cast<void*>(storage_)) T(std::forward<Make>(make)());  // in place: no move
    destroy_ = [](void* p) noexcept { static_cast<T*>(p)->~T(); };
    return *made;
  }

  template <class T>
  T& get() noexcept {
    return *std::launder(reinterpret_cast<T*>(storage_));
  }

  bool empty() const noexcept { return destroy_ == nullptr; }
  void reset() noexcept {
    if (destroy_ != nullptr) std::exchange(destroy_, nullptr)(storage_);
  }

 private:
  alignas(A...) std::byte storage_[std::max({sizeof(A)...})];
  void (*destroy_)(void*) noexcept = nullptr;
};

// Starts awaiter a with continuation next: true if it finished at once (await_resume may be called now),
// false if it will resume next when it does. Awaiters whose await_suspend returns a handle (Task) would run
// that coroutine here and could resume next before this returns; stream operations do not, so they are refused.
template <class Awaiter>
bool start_awaiter(Awaiter& a, std::coroutine_handle<> next) noexcept {
  if (a.await_ready()) return true;
  using Suspended = decltype(a.await_suspend(next));
  if constexpr (std::is_void_v<Suspended>) {
    a.await_suspend(next);
    return false;
  } else {
    static_assert(std::is_same_v<Suspended, bool>, "a stream operation's await_suspend returns void or bool");
    return !a.await_suspend(next);
  }
}

}  // namespace rfarm::detail

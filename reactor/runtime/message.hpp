// CrossCoreMessage: a function sent to another core, one cache line in the queue between the two.
//
// A callable of up to 48 bytes (a few pointers and ids: what a submit_to or an fd hand-off captures) is
// stored in the message itself; a larger one, or one whose move may throw, is boxed on the heap, so any
// callable can be posted and the common ones cost no allocation.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include "lib/inplace_function.hpp"

namespace rfarm::detail {

class CrossCoreMessage {
 public:
  static constexpr std::size_t kInlineCapacity = 48;

  CrossCoreMessage() noexcept = default;
  template <class F, class D = std::decay_t<F>>
    requires(!std::is_same_v<D, CrossCoreMessage> && std::is_invocable_v<D&>)
  explicit CrossCoreMessage(F&& fn) : fn_(wrap(std::forward<F>(fn))) {}

  void operator()() { fn_(); }
  explicit operator bool() const noexcept { return static_cast<bool>(fn_); }

  template <class D>
  static constexpr bool fits_inline() noexcept {
    return sizeof(D) <= kInlineCapacity && alignof(D) <= alignof(std::max_align_t) &&
           std::is_nothrow_move_constructible_v<D>;
  }

 private:
  using Function = InplaceFunction<void(), kInlineCapacity>;

  // Returns the function by value so that it is built in place in fn_ (an assignment would build it
  // elsewhere and move it in: one more indirect call per message).
  template <class F, class D = std::decay_t<F>>
  static Function wrap(F&& fn) {
    if constexpr (!std::is_void_v<std::invoke_result_t<D&>>) {  // a result nobody asked for is dropped
      return wrap([inner = D(std::forward<F>(fn))]() mutable { (void)inner(); });
    } else if constexpr (fits_inline<D>()) {
      return Function(std::forward<F>(fn));
    } else {
      return Function([boxed = std::make_unique<D>(std::forward<F>(fn))]() mutable { (*boxed)(); });
    }
  }

  Function fn_;
};

static_assert(sizeof(CrossCoreMessage) <= 64, "a message is meant to fill one cache line of its queue");

}  // namespace rfarm::detail

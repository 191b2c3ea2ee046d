// InplaceFunction: a move-only callable stored inside the object, never on the heap.
//
// Completion handlers live in the socket or operation that owns them, so starting an I/O operation allocates
// nothing. A callable larger than Capacity is a compile error (capture a pointer to your state instead).
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace rfarm {

template <class Signature, std::size_t Capacity = 48>
class InplaceFunction;

template <class R, class... Args, std::size_t Capacity>
class InplaceFunction<R(Args...), Capacity> {
 public:
  InplaceFunction() noexcept = default;
  InplaceFunction(std::nullptr_t) noexcept {}

  template <class F, class D = std::decay_t<F>>
    requires(!std::is_same_v<D, InplaceFunction> && std::is_invocable_r_v<R, D&, Args...>)
  InplaceFunction(F&& f) {  // NOLINT(google-explicit-constructor): callables convert implicitly
    static_assert(sizeof(D) <= Capacity, "handler too large for InplaceFunction: capture a pointer instead");
    static_assert(alignof(D) <= alignof(std::max_align_t), "handler over-aligned");
    static_assert(std::is_nothrow_move_constructible_v<D>, "handler must be nothrow-movable");
    ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    vtable_ = &vtable_for<D>;
  }

  InplaceFunction(InplaceFunction&& other) noexcept { move_from(other); }
  InplaceFunction& operator=(InplaceFunction&& other) noexcept {
    if (this != &other) {
      reset();
      move_from(other);
    }
    return *this;
  }
  InplaceFunction(const InplaceFunction&) = delete;
  InplaceFunction& operator=(const InplaceFunction&) = delete;
  ~InplaceFunction() { reset(); }

  explicit operator bool() const noexcept { return vtable_ != nullptr; }

  R operator()(Args... args) { return vtable_->invoke(storage_, std::forward<Args>(args)...); }

  void reset() noexcept {
    if (vtable_) {
      vtable_->destroy(storage_);
      vtable_ = nullptr;
    }
  }

 private:
  struct VTable {
    R (*invoke)(void*, Args&&...);
    void (*move)(void* to, void* from) noexcept;
    void (*destroy)(void*) noexcept;
  };

  template <class D>
  static constexpr VTable vtable_for{
      [](void* self, Args&&... args) -> R { return (*static_cast<D*>(self))(std::forward<Args>(args)...); },
      [](void* to, void* from) noexcept {
        ::new (to) D(std::move(*static_cast<D*>(from)));
        static_cast<D*>(from)->~D();
      },
      [](void* self) noexcept { static_cast<D*>(self)->~D(); },
  };

  void move_from(InplaceFunction& other) noexcept {
    if (other.vtable_) {
      other.vtable_->move(storage_, other.storage_);
      vtable_ = std::exchange(other.vtable_, nullptr);
    }
  }

  alignas(std::max_align_t) unsigned char storage_[Capacity];
  const VTable* vtable_ = nullptr;
};

}  // namespace rfarm

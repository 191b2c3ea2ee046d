// Outcome<R>: what a function run elsewhere produced (its value, or the exception it threw), kept until the
// caller's core takes it. Used by submit_to (another core) and offload (a worker thread).
#pragma once

#include <exception>
#include <expected>
#include <type_traits>
#include <utility>
#include <variant>

namespace rfarm::detail {

template <class R>
class Outcome {
  static_assert(!std::is_reference_v<R>, "a result that crosses threads is returned by value");

 public:
  // Runs fn, keeping its value or exception.
  template <class F>
  void capture(F& fn) noexcept {
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        value_.template emplace<1>();
      } else {
        value_.template emplace<1>(fn());
      }
    } catch (...) {
      value_.template emplace<2>(std::current_exception());
    }
  }
  template <class U>
  void set_value(U&& value) {
    value_.template emplace<1>(std::forward<U>(value));
  }
  void set_value() noexcept
    requires std::is_void_v<R>
  {
    value_.template emplace<1>();
  }
  void set_exception(std::exception_ptr e) noexcept { value_.template emplace<2>(std::move(e)); }

  // The value, or rethrows the exception.
  R take() {
    if (value_.index() == 2) std::rethrow_exception(std::get<2>(value_));
    if constexpr (!std::is_void_v<R>) return std::move(std::get<1>(value_));
  }
  std::expected<R, std::exception_ptr> take_expected() noexcept(std::is_nothrow_move_constructible_v<Stored>) {
    if (value_.index() == 2) return std::unexpected(std::get<2>(value_));
    if constexpr (std::is_void_v<R>) {
      return {};
    } else {
      return std::move(std::get<1>(value_));
    }
  }

 private:
  using Stored = std::conditional_t<std::is_void_v<R>, std::monostate, R>;
  std::variant<std::monostate, Stored, std::exception_ptr> value_;
};

}  // namespace rfarm::detail

// ValueTraits for null and for values that may be absent or one of several types.
//
// Null, std::monostate and std::nullptr_t are FlexBuffers null both ways (reading anything else as one is an
// error). std::optional<T> is null <-> nullopt, anything else must read as T. std::variant<Ts...> is written as
// its active alternative and cannot be read (which alternative a 3 is meant to be is the reader's decision:
// take Value and look at kind()).
#pragma once

#include <cstddef>
#include <optional>
#include <variant>

#include "farm/values/value_traits.hpp"

namespace rfarm::farm {

// The null value, for a task that returns "nothing" explicitly or a record field that is null.
struct Null {
  friend bool operator==(Null, Null) = default;
};

namespace detail {
template <class T>
struct NullTraits {
  static void write(flexbuffers::Builder& b, const T&) { b.Null(); }
  static ReadResult<T> read(flexbuffers::Reference r) {
    if (!r.IsNull()) return std::unexpected(type_mismatch("null", r));
    return T{};
  }
};
}  // namespace detail

template <>
struct ValueTraits<Null> : detail::NullTraits<Null> {};
template <>
struct ValueTraits<std::monostate> : detail::NullTraits<std::monostate> {};
template <>
struct ValueTraits<std::nullptr_t> : detail::NullTraits<std::nullptr_t> {};

template <class T>
struct ValueTraits<std::optional<T>> {
  static void write(flexbuffers::Builder& b, const std::optional<T>& value)
    requires WritableValue<T>
  {
    if (value) {
      ValueTraits<T>::write(b, *value);
    } else {
      b.Null();
    }
  }
  static ReadResult<std::optional<T>> read(flexbuffers::Reference r)
    requires ReadableValue<T>
  {
    if (r.IsNull()) return std::optional<T>();
    auto value = ValueTraits<T>::read(r);
    if (!value) return std::unexpected(std::move(value.error()));
    return std::optional<T>(std::move(*value));
  }
};

template <class... Ts>
struct ValueTraits<std::variant<Ts...>> {
  static void write(flexbuffers::Builder& b, const std::variant<Ts...>& value)
    requires(WritableValue<Ts> && ...)
  {
    std::visit([&](const auto& v) { ValueTraits<std::decay_t<decltype(v)>>::write(b, v); }, value);
  }
};

}  // namespace rfarm::farm

// ValueTraits for bool, the integer types and float/double.
//
// Integers are range-checked both ways: 300 read as std::uint8_t and -1 read as unsigned are errors ("300 does
// not fit in uint8"), never wrapped. Signed and unsigned FlexBuffers integers are both "integer"; only the value
// decides whether it fits. An integer read as double or float widens (integers above 2^53 round to the nearest
// double). A float is never read as an integer, not even 3.0: a task that wants either takes double or Value.
// A double read as float rounds to the nearest float; a finite double beyond float's range is an error. bool is
// its own kind: neither 0/1 nor "true" is a bool. char is text, not a number, and has no traits.
#pragma once

#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string_view>
#include <type_traits>

#include "farm/values/value_traits.hpp"

namespace rfarm::farm {

// Every integer type but bool and the character types.
template <class T>
concept FarmInteger = std::integral<T> && !std::same_as<T, bool> && !std::same_as<T, char> &&
                      !std::same_as<T, wchar_t> && !std::same_as<T, char8_t> && !std::same_as<T, char16_t> &&
                      !std::same_as<T, char32_t>;

// "int8" ... "uint64": the names errors use, the same for long and long long of one width.
template <FarmInteger T>
constexpr std::string_view integer_type_name() noexcept {
  constexpr bool is_signed = std::is_signed_v<T>;
  switch (sizeof(T)) {
    case 1: return is_signed ? "int8" : "uint8";
    case 2: return is_signed ? "int16" : "uint16";
    case 4: return is_signed ? "int32" : "uint32";
    default: return is_signed ? "int64" : "uint64";
  }
}

template <>
struct ValueTraits<bool> {
  static void write(flexbuffers::Builder& b, bool value) { b.Bool(value); }
  static ReadResult<bool> read(flexbuffers::Reference r) {
    if (!r.IsBool()) return std::unexpected(type_mismatch("bool", r));
    return r.AsBool();
  }
};

template <FarmInteger T>
struct ValueTraits<T> {
  static void write(flexbuffers::Builder& b, T value) {
    if constexpr (std::is_signed_v<T>) {
      b.Int(static_cast<std::int64_t>(value));
    } else {
      b.UInt(static_cast<std::uint64_t>(value));
    }
  }

  static ReadResult<T> read(flexbuffers::Reference r) {
    // Type first: AsInt64 would happily parse a string or truncate a float.
    if (r.IsInt()) {
      std::int64_t v = r.AsInt64();
      if (std::in_range<T>(v)) return static_cast<T>(v);
      return std::unexpected(out_of_range(v, integer_type_name<T>()));
    }
    if (r.IsUInt()) {
      std::uint64_t v = r.AsUInt64();
      if (std::in_range<T>(v)) return static_cast<T>(v);
      return std::unexpected(out_of_range(v, integer_type_name<T>()));
    }
    return std::unexpected(type_mismatch("integer", r));
  }
};

template <>
struct ValueTraits<double> {
  static void write(flexbuffers::Builder& b, double value) { b.Double(value); }
  static ReadResult<double> read(flexbuffers::Reference r) {
    if (r.IsFloat()) return r.AsDouble();
    if (r.IsInt()) return static_cast<double>(r.AsInt64());
    if (r.IsUInt()) return static_cast<double>(r.AsUInt64());
    return std::unexpected(type_mismatch("float", r));
  }
};

template <>
struct ValueTraits<float> {
  static void write(flexbuffers::Builder& b, float value) { b.Float(value); }
  static ReadResult<float> read(flexbuffers::Reference r) {
    auto d = ValueTraits<double>::read(r);
    if (!d) return std::unexpected(std::move(d.error()));
    if (std::isfinite(*d) && std::fabs(*d) > static_cast<double>(std::numeric_limits<float>::max()))
      return std::unexpected(out_of_range(*d, "float32"));
    return static_cast<float>(*d);
  }
};

}  // namespace rfarm::farm

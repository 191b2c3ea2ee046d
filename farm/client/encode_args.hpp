// A task's arguments as the FlexBuffer vector a Submit frame carries (farm/PROTOCOL.md, "Values"):
//
//     std::vector<std::uint8_t> args = encode_args(std::int64_t{0}, std::int64_t{100000});   // [0, 100000]
//     encode_args("text", 2.5, std::vector<int>{1, 2});                                    // any WritableValue
//
// Arguments are encoded on the caller's thread, so the kernel's loop only copies bytes into frames.
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

#include "farm/values/values.hpp"

namespace rfarm::farm {

// A string literal is a const char*; everything else is itself.
template <class T>
decltype(auto) as_argument(const T& a) {
  if constexpr (std::is_array_v<T>) {
    return static_cast<const char*>(a);
  } else {
    return (a);
  }
}

template <class... A>
std::vector<std::uint8_t> encode_args(const A&... args) {
  flexbuffers::Builder b(64 + 16 * sizeof...(A));
  std::size_t start = b.StartVector();
  (write_value(b, as_argument(args)), ...);
  b.EndVector(start, false, false);
  b.Finish();
  return b.GetBuffer();
}

// A tuple's elements as the arguments (pmap over tuples: one element, many arguments).
template <class... A>
std::vector<std::uint8_t> encode_args_tuple(const std::tuple<A...>& args) {
  return std::apply([](const auto&... a) { return encode_args(a...); }, args);
}

template <class T>
struct IsTuple : std::false_type {};
template <class... A>
struct IsTuple<std::tuple<A...>> : std::true_type {};

// One input of pmap as arguments: a tuple spreads into several, anything else is the single argument.
template <class T>
std::vector<std::uint8_t> encode_input(const T& input) {
  if constexpr (IsTuple<T>::value) {
    return encode_args_tuple(input);
  } else {
    return encode_args(input);
  }
}

}  // namespace rfarm::farm

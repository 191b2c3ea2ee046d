// ValueTraits for sequences: std::vector<T>, std::pair and std::tuple, all FlexBuffers vectors.
//
// A vector of numbers is written as a typed vector (one type for all elements: smaller, and what other
// FlexBuffers libraries write for a list of numbers); anything else untyped. Readers accept every vector
// flavour (vector_view.hpp). A pair or tuple is a vector of exactly its size: [1, "a"] reads as
// std::pair<int, std::string>, [1, "a", 2] does not ("expected vector of 2 elements, got 3"). An element's
// error names its index: "[3]: expected integer, got string".
#pragma once

#include <cstddef>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "farm/values/scalar_traits.hpp"
#include "farm/values/value_traits.hpp"
#include "farm/values/vector_view.hpp"

namespace rfarm::farm {

namespace detail {

// Reads element `index` of a vector as T, or the element's error with the index in its path.
template <class T>
ReadResult<T> read_element(const VectorView& vector, std::size_t index) {
  auto element = ValueTraits<T>::read(vector[index]);
  if (!element) element.error().at_index(index);
  return element;
}

template <class... Ts, std::size_t... I>
ReadResult<std::tuple<Ts...>> read_tuple(const VectorView& vector, std::index_sequence<I...>) {
  // Braced initialisation reads the elements left to right.
  [[maybe_unused]] std::tuple<ReadResult<Ts>...> elements{read_element<Ts>(vector, I)...};
  std::optional<ValueError> error;  // the first failing element's
  [[maybe_unused]] auto keep_first_error = [&](auto& element) {
    if (!error && !element) error.emplace(std::move(element.error()));
  };
  (keep_first_error(std::get<I>(elements)), ...);
  if (error) return std::unexpected(std::move(*error));
  return std::tuple<Ts...>(std::move(*std::get<I>(elements))...);
}

template <std::size_t N>
ReadResult<VectorView> expect_vector_of(flexbuffers::Reference r) {
  auto vector = VectorView::of(r);
  if (!vector) return std::unexpected(type_mismatch(fmt::format("vector of {} elements", N), r));
  if (vector->size() != N)
    return std::unexpected(
        ValueError(FarmErrc::type_mismatch, fmt::format("expected vector of {} elements, got {}", N, vector->size())));
  return *vector;
}

}  // namespace detail

template <class T, class A>
  requires(!std::is_same_v<T, std::byte>)
struct ValueTraits<std::vector<T, A>> {
  static void write(flexbuffers::Builder& b, const std::vector<T, A>& values)
    requires WritableValue<T>
  {
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      b.Vector(values.data(), values.size());  // typed vector
    } else {
      std::size_t start = b.StartVector();
      for (const auto& v : values) ValueTraits<T>::write(b, v);
      b.EndVector(start, false, false);
    }
  }

  static ReadResult<std::vector<T, A>> read(flexbuffers::Reference r)
    requires ReadableValue<T>
  {
    auto vector = VectorView::of(r);
    if (!vector) return std::unexpected(type_mismatch("vector", r));
    std::vector<T, A> out;
    out.reserve(vector->size());
    for (std::size_t i = 0; i < vector->size(); ++i) {
      auto element = detail::read_element<T>(*vector, i);
      if (!element) return std::unexpected(std::move(element.error()));
      out.push_back(std::move(*element));
    }
    return out;
  }
};

template <class... Ts>
struct ValueTraits<std::tuple<Ts...>> {
  static void write(flexbuffers::Builder& b, const std::tuple<Ts...>& values)
    requires(WritableValue<Ts> && ...)
  {
    std::size_t start = b.StartVector();
    std::apply([&](const auto&... v) { (ValueTraits<std::decay_t<decltype(v)>>::write(b, v), ...); }, values);
    b.EndVector(start, false, false);
  }

  static ReadResult<std::tuple<Ts...>> read(flexbuffers::Reference r)
    requires(ReadableValue<Ts> && ...)
  {
    auto vector = detail::expect_vector_of<sizeof...(Ts)>(r);
    if (!vector) return std::unexpected(std::move(vector.error()));
    return detail::read_tuple<Ts...>(*vector, std::index_sequence_for<Ts...>{});
  }
};

template <class A, class B>
struct ValueTraits<std::pair<A, B>> {
  static void write(flexbuffers::Builder& b, const std::pair<A, B>& p)
    requires WritableValue<A> && WritableValue<B>
  {
    std::size_t start = b.StartVector();
    ValueTraits<A>::write(b, p.first);
    ValueTraits<B>::write(b, p.second);
    b.EndVector(start, false, false);
  }

  static ReadResult<std::pair<A, B>> read(flexbuffers::Reference r)
    requires ReadableValue<A> && ReadableValue<B>
  {
    auto vector = detail::expect_vector_of<2>(r);
    if (!vector) return std::unexpected(std::move(vector.error()));
    auto first = detail::read_element<A>(*vector, 0);
    if (!first) return std::unexpected(std::move(first.error()));
    auto second = detail::read_element<B>(*vector, 1);
    if (!second) return std::unexpected(std::move(second.error()));
    return std::pair<A, B>(std::move(*first), std::move(*second));
  }
};

}  // namespace rfarm::farm

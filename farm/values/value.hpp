// Value and Args: dynamic views of FlexBuffers values, for tasks that take anything (echo, add) or decide by
// kind what to do.
//
//     double sum(Args args) {                        // any number of arguments
//       double total = 0;
//       for (Value v : args) total += v.as<double>().value_or(0);
//       return total;
//     }
//     auto name = value.find("name");                 // std::optional<Value>
//     if (value.kind() == ValueKind::map) ...
//
// A view points into the buffer it came from (for a task argument, the received frame) and is valid while that
// buffer is. Writing a Value copies it deeply into the builder (echo returns its arguments this way).
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <cstddef>
#include <iterator>
#include <optional>
#include <string_view>

#include "farm/values/map_traits.hpp"
#include "farm/values/value_kind.hpp"
#include "farm/values/value_traits.hpp"
#include "farm/values/vector_view.hpp"

namespace rfarm::farm {

class Value {
 public:
  Value() noexcept = default;  // null
  explicit Value(flexbuffers::Reference ref) noexcept : ref_(ref) {}

  ValueKind kind() const noexcept { return kind_of(ref_); }
  bool is_null() const noexcept { return ref_.IsNull(); }

  // The value as T, with T's rules (scalar_traits.hpp, ...): v.as<std::int64_t>(), v.as<std::string_view>().
  template <ReadableValue T>
  ReadResult<T> as() const {
    return ValueTraits<T>::read(ref_);
  }

  // Elements of a vector or map; 0 for anything else.
  std::size_t size() const noexcept {
    if (ref_.IsMap()) return ref_.AsMap().size();
    if (auto v = VectorView::of(ref_)) return v->size();
    return 0;
  }
  // Element i of a vector; null past the end or if this is not a vector.
  Value operator[](std::size_t i) const noexcept {
    auto v = VectorView::of(ref_);
    return v ? Value((*v)[i]) : Value();
  }
  // Field `key` of a map; nullopt if absent or if this is not a map.
  std::optional<Value> find(std::string_view key) const noexcept {
    if (!ref_.IsMap()) return std::nullopt;
    auto field = find_field(ref_.AsMap(), key);
    return field ? std::optional<Value>(Value(*field)) : std::nullopt;
  }

  const flexbuffers::Reference& ref() const noexcept { return ref_; }

 private:
  flexbuffers::Reference ref_;
};

// A task's argument vector, whole.
class Args {
 public:
  class iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = Value;
    using difference_type = std::ptrdiff_t;
    iterator() noexcept = default;
    iterator(const VectorView* view, std::size_t i) noexcept : view_(view), i_(i) {}
    Value operator*() const noexcept { return Value((*view_)[i_]); }
    iterator& operator++() noexcept {
      ++i_;
      return *this;
    }
    iterator operator++(int) noexcept {
      iterator before = *this;
      ++i_;
      return before;
    }
    friend bool operator==(const iterator& a, const iterator& b) noexcept { return a.i_ == b.i_; }

   private:
    const VectorView* view_ = nullptr;
    std::size_t i_ = 0;
  };

  Args() noexcept = default;  // no arguments
  explicit Args(const VectorView& view) noexcept : view_(view) {}

  std::size_t size() const noexcept { return view_.size(); }
  bool empty() const noexcept { return view_.empty(); }
  // Argument i (from 0); null past the end.
  Value operator[](std::size_t i) const noexcept { return Value(view_[i]); }
  iterator begin() const noexcept { return {&view_, 0}; }
  iterator end() const noexcept { return {&view_, view_.size()}; }
  const VectorView& view() const noexcept { return view_; }

 private:
  VectorView view_;
};

// Appends a deep copy of value to b (typed vectors become untyped, keys strings; numbers keep their width).
void copy_value(flexbuffers::Builder& b, const flexbuffers::Reference& value);

template <>
struct ValueTraits<Value> {
  static void write(flexbuffers::Builder& b, const Value& value) { copy_value(b, value.ref()); }
  static ReadResult<Value> read(flexbuffers::Reference r) { return Value(r); }
};

template <>
struct ValueTraits<Args> {
  static void write(flexbuffers::Builder& b, const Args& args) {
    std::size_t start = b.StartVector();
    for (std::size_t i = 0; i < args.size(); ++i) copy_value(b, args.view()[i]);
    b.EndVector(start, false, false);
  }
  static ReadResult<Args> read(flexbuffers::Reference r) {
    auto view = VectorView::of(r);
    if (!view) return std::unexpected(type_mismatch("vector", r));
    return Args(*view);
  }
};

}  // namespace rfarm::farm

// ValueTraits for string-keyed maps (std::map and std::unordered_map with std::string keys), and the helpers a
// user type needs to travel as a record (a FlexBuffers map of named fields).
//
// FlexBuffers map keys are NUL-terminated: writing a key that holds a NUL byte throws ValueEncodeError rather
// than silently cutting it. A value's error names its key: ".count: expected integer, got float". A received map
// with a key twice is an error, not "last one wins".
//
// Records:
//     b.Map([&] { write_field(b, "x", p.x); write_field(b, "label", p.label); });
//     auto fields = read_fields<double, std::string>(ref, "x", "label");   // ReadResult<std::tuple<...>>
//     ReadResult<Point> p = read_record<Point, double, std::string>(ref, "x", "label");   // Point{x, label}
// A missing field is an error ("missing field 'x'") unless its type is std::optional, which reads as nullopt;
// fields the reader does not ask for are ignored, so a record can gain fields without breaking older readers.
#pragma once

#include <cstddef>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include <fmt/format.h>

#include "farm/values/value_traits.hpp"

namespace rfarm::farm {

namespace detail {

inline void write_key(flexbuffers::Builder& b, std::string_view key) {
  if (std::memchr(key.data(), '\0', key.size()) != nullptr)
    throw ValueEncodeError(fmt::format("map key \"{}\" contains a NUL byte", std::string_view(key.data())));
  b.Key(key.data(), key.size());
}

template <class MapType, class T>
ReadResult<MapType> read_map(flexbuffers::Reference r) {
  if (!r.IsMap()) return std::unexpected(type_mismatch("map", r));
  flexbuffers::Map map = r.AsMap();
  flexbuffers::TypedVector keys = map.Keys();
  flexbuffers::Vector values = map.Values();
  MapType out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::string_view key = keys[i].AsKey();
    auto value = ValueTraits<T>::read(values[i]);
    if (!value) return std::unexpected(std::move(value.error().at_key(key)));
    if (!out.try_emplace(std::string(key), std::move(*value)).second)
      return std::unexpected(ValueError(FarmErrc::type_mismatch, fmt::format("map has the key \"{}\" twice", key)));
  }
  return out;
}

template <class MapType, class T>
void write_map(flexbuffers::Builder& b, const MapType& map) {
  std::size_t start = b.StartMap();
  for (const auto& [key, value] : map) {
    write_key(b, key);
    ValueTraits<T>::write(b, value);
  }
  b.EndMap(start);  // sorts the keys, as the format requires
}

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

}  // namespace detail

template <class T, class C, class A>
struct ValueTraits<std::map<std::string, T, C, A>> {
  using MapType = std::map<std::string, T, C, A>;
  static void write(flexbuffers::Builder& b, const MapType& map)
    requires WritableValue<T>
  {
    detail::write_map<MapType, T>(b, map);
  }
  static ReadResult<MapType> read(flexbuffers::Reference r)
    requires ReadableValue<T>
  {
    return detail::read_map<MapType, T>(r);
  }
};

template <class T, class H, class E, class A>
struct ValueTraits<std::unordered_map<std::string, T, H, E, A>> {
  using MapType = std::unordered_map<std::string, T, H, E, A>;
  static void write(flexbuffers::Builder& b, const MapType& map)
    requires WritableValue<T>
  {
    detail::write_map<MapType, T>(b, map);
  }
  static ReadResult<MapType> read(flexbuffers::Reference r)
    requires ReadableValue<T>
  {
    return detail::read_map<MapType, T>(r);
  }
};

// The value stored under `name`, or nullopt if the map has no such key (binary search: keys are sorted).
inline std::optional<flexbuffers::Reference> find_field(const flexbuffers::Map& map, std::string_view name) noexcept {
  flexbuffers::TypedVector keys = map.Keys();
  std::size_t low = 0, high = keys.size();
  while (low < high) {
    std::size_t mid = low + (high - low) / 2;
    int order = std::string_view(keys[mid].AsKey()).compare(name);
    if (order == 0) return map.Values()[mid];
    if (order < 0) {
      low = mid + 1;
    } else {
      high = mid;
    }
  }
  return std::nullopt;
}

// Field `name` of a record as T; the error's path starts with the field.
template <ReadableValue T>
ReadResult<T> read_field(const flexbuffers::Map& map, std::string_view name) {
  std::optional<flexbuffers::Reference> field = find_field(map, name);
  if (!field) {
    if constexpr (detail::IsOptional<T>::value) {
      return T{};
    } else {
      return std::unexpected(ValueError(FarmErrc::missing_field, fmt::format("missing field '{}'", name)));
    }
  }
  auto value = ValueTraits<T>::read(*field);
  if (!value) value.error().at_key(name);
  return value;
}

// The named fields of a record, in order: read_fields<double, double>(ref, "x", "y").
template <ReadableValue... Ts, class... Names>
  requires(sizeof...(Ts) == sizeof...(Names))
ReadResult<std::tuple<Ts...>> read_fields(flexbuffers::Reference record, const Names&... names) {
  if (!record.IsMap()) return std::unexpected(type_mismatch("map", record));
  flexbuffers::Map map = record.AsMap();
  std::tuple<ReadResult<Ts>...> fields{read_field<Ts>(map, std::string_view(names))...};
  std::optional<ValueError> error;  // the first failing field's
  std::apply([&](auto&... field) { ((error || field ? void() : void(error.emplace(std::move(field.error())))), ...); },
             fields);
  if (error) return std::unexpected(std::move(*error));
  return std::apply([](auto&... field) { return std::tuple<Ts...>(std::move(*field)...); }, fields);
}

// A record read straight into T, built as T{field...} (an aggregate or a constructor taking the fields in order):
//     read_record<Point, double, double>(ref, "x", "y")   // ReadResult<Point>
template <class T, ReadableValue... Ts, class... Names>
  requires(sizeof...(Ts) == sizeof...(Names))
ReadResult<T> read_record(flexbuffers::Reference record, const Names&... names) {
  auto fields = read_fields<Ts...>(record, names...);
  if (!fields) return std::unexpected(std::move(fields.error()));
  return std::apply([](auto&... field) { return T{std::move(field)...}; }, *fields);
}

// One key and value inside b.Map([&] { ... }).
template <WritableValue T>
void write_field(flexbuffers::Builder& b, std::string_view name, const T& value) {
  detail::write_key(b, name);
  ValueTraits<T>::write(b, value);
}

}  // namespace rfarm::farm

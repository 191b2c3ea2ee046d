// ValueTraits<T>: the one customization point between a C++ type and a FlexBuffers value.
//
// A specialization has two static functions (either may be left out if the type only travels one way):
//     static void write(flexbuffers::Builder& b, const T& value);      // appends one value
//     static ReadResult<T> read(flexbuffers::Reference value);         // never reinterprets: wrong kind = error
// Specializations for the built-in types live in scalar_traits.hpp, text_traits.hpp, sequence_traits.hpp,
// map_traits.hpp and nullable_traits.hpp; values.hpp includes them all. A user type plugs in by specializing
// ValueTraits in namespace rfarm::farm (farm/README.md walks through one; map_traits.hpp has the field helpers):
//     template <> struct rfarm::farm::ValueTraits<Point> {
//       static void write(flexbuffers::Builder& b, const Point& p) {
//         b.Map([&] { write_field(b, "x", p.x); write_field(b, "y", p.y); });
//       }
//       static ReadResult<Point> read(flexbuffers::Reference r) {
//         return read_record<Point, double, double>(r, "x", "y");      // Point{x, y}, or which field is wrong
//       }
//     };
//
// write may throw ValueEncodeError for a value FlexBuffers cannot hold (a map key with a NUL byte); task
// invocation turns that into a failure. read expects a verified buffer (flex_verifier.hpp): the frame decoder
// verifies every value that arrives, and a buffer this process built is valid by construction.
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <concepts>
#include <stdexcept>
#include <string>

#include "farm/values/value_error.hpp"

namespace rfarm::farm {

template <class T>
struct ValueTraits;  // no conversion for T unless specialized

template <class T>
concept WritableValue = requires(flexbuffers::Builder& b, const T& value) { ValueTraits<T>::write(b, value); };

template <class T>
concept ReadableValue = requires(flexbuffers::Reference r) {
  { ValueTraits<T>::read(r) } -> std::same_as<ReadResult<T>>;
};

// A C++ value FlexBuffers cannot represent.
class ValueEncodeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

template <WritableValue T>
void write_value(flexbuffers::Builder& b, const T& value) {
  ValueTraits<T>::write(b, value);
}

template <ReadableValue T>
ReadResult<T> read_value(flexbuffers::Reference value) {
  return ValueTraits<T>::read(value);
}

}  // namespace rfarm::farm

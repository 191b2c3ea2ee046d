// The kinds of value the farm moves, as a person names them in an error message ("expected integer, got
// string"). FlexBuffers has more types than that (inline and indirect numbers, typed and fixed vectors, keys);
// kind_of folds them into these eight.
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <string_view>

namespace rfarm::farm {

enum class ValueKind { null, boolean, integer, floating, string, blob, vector, map };

// "null", "bool", "integer", "float", "string", "blob", "vector", "map".
std::string_view to_string(ValueKind kind) noexcept;

// The kind of a FlexBuffers value: signed and unsigned integers are both `integer`, keys are `string`, every
// vector flavour (untyped, typed, fixed-length) is `vector`.
//     kind_of(flexbuffers::GetRoot(buf)) == ValueKind::map
ValueKind kind_of(const flexbuffers::Reference& value) noexcept;

}  // namespace rfarm::farm

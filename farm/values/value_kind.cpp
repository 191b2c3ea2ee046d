#include "farm/values/value_kind.hpp"

namespace rfarm::farm {

std::string_view to_string(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::null: return "null";
    case ValueKind::boolean: return "bool";
    case ValueKind::integer: return "integer";
    case ValueKind::floating: return "float";
    case ValueKind::string: return "string";
    case ValueKind::blob: return "blob";
    case ValueKind::vector: return "vector";
    case ValueKind::map: return "map";
  }
  return "?";
}

ValueKind kind_of(const flexbuffers::Reference& value) noexcept {
  if (value.IsIntOrUint()) return ValueKind::integer;
  if (value.IsFloat()) return ValueKind::floating;
  if (value.IsBool()) return ValueKind::boolean;
  if (value.IsString() || value.IsKey()) return ValueKind::string;
  if (value.IsBlob()) return ValueKind::blob;
  if (value.IsMap()) return ValueKind::map;
  if (value.IsUntypedVector() || value.IsTypedVector() || value.IsFixedTypedVector()) return ValueKind::vector;
  return ValueKind::null;
}

}  // namespace rfarm::farm

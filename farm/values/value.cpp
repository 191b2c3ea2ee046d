#include "farm/values/value.hpp"

namespace rfarm::farm {

void copy_value(flexbuffers::Builder& b, const flexbuffers::Reference& value) {
  switch (kind_of(value)) {
    case ValueKind::null: b.Null(); return;
    case ValueKind::boolean: b.Bool(value.AsBool()); return;
    case ValueKind::integer:
      if (value.IsInt()) {
        b.Int(value.AsInt64());
      } else {
        b.UInt(value.AsUInt64());
      }
      return;
    case ValueKind::floating: b.Double(value.AsDouble()); return;  // Double() keeps 32 bits when exact
    case ValueKind::string: {
      flexbuffers::String s = value.AsString();
      b.String(s.c_str(), s.length());
      return;
    }
    case ValueKind::blob: {
      flexbuffers::Blob blob = value.AsBlob();
      b.Blob(blob.data(), blob.size());
      return;
    }
    case ValueKind::vector: {
      VectorView view = *VectorView::of(value);
      std::size_t start = b.StartVector();
      for (std::size_t i = 0; i < view.size(); ++i) copy_value(b, view[i]);
      b.EndVector(start, false, false);
      return;
    }
    case ValueKind::map: {
      flexbuffers::Map map = value.AsMap();
      flexbuffers::TypedVector keys = map.Keys();
      flexbuffers::Vector values = map.Values();
      std::size_t start = b.StartMap();
      for (std::size_t i = 0; i < values.size(); ++i) {
        b.Key(keys[i].AsKey());
        copy_value(b, values[i]);
      }
      b.EndMap(start);
      return;
    }
  }
}

}  // namespace rfarm::farm

// Summary: a user type that travels through ValueTraits, the one customization point (farm/README.md). It is the
// mergeable summary of a list of numbers, so a farm can summarize chunks in parallel and reduce them
// (preduce with merge_summaries).
//
// On the wire it is a record (a FlexBuffers map) {"count": int, "sum": float, "min": float|null, "max": float|null};
// min and max are null for an empty list.
#pragma once

#include <cstdint>
#include <optional>

#include "farm/values/values.hpp"

namespace example {

struct Summary {
  std::int64_t count = 0;
  double sum = 0;
  std::optional<double> min;
  std::optional<double> max;

  friend bool operator==(const Summary&, const Summary&) = default;
};

}  // namespace example

template <>
struct rfarm::farm::ValueTraits<example::Summary> {
  static void write(flexbuffers::Builder& b, const example::Summary& s) {
    b.Map([&] {
      write_field(b, "count", s.count);
      write_field(b, "sum", s.sum);
      write_field(b, "min", s.min);
      write_field(b, "max", s.max);
    });
  }
  static ReadResult<example::Summary> read(flexbuffers::Reference r) {
    return read_record<example::Summary, std::int64_t, double, std::optional<double>, std::optional<double>>(
        r, "count", "sum", "min", "max");
  }
};

// ValueError: why a FlexBuffers value could not become the C++ type asked for, and where in the value.
//
// A reader that fails at depth returns its error; each container on the way out prepends its step, so the
// error names the path from the root:
//     ValueError e = type_mismatch("string", ref);     // "expected string, got null"
//     e.at_key("name").at_index(3);                      // path "[3].name"
//     e.message()                                        // "[3].name: expected string, got null"
//     e.describe_argument(1, "tally")                    // "argument 1 of 'tally' at [3].name: expected ..."
// Errors are the rare path: building the text may allocate, reading a value that fits never does.
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "farm/error.hpp"

namespace rfarm::farm {

class ValueError {
 public:
  ValueError(FarmErrc code, std::string detail) : code_(code), detail_(std::move(detail)) {}

  FarmErrc code() const noexcept { return code_; }
  // From the root to the failing value: "[3].name", "" for the root itself.
  const std::string& path() const noexcept { return path_; }
  // What is wrong there: "expected string, got null".
  const std::string& detail() const noexcept { return detail_; }
  // "[3].name: expected string, got null", or just the detail at the root.
  std::string message() const;
  // "argument 2 of 'add': expected integer, got string" (index counts from 1).
  std::string describe_argument(std::size_t index, std::string_view task) const;

  // Prepend one step of the path (called by the container that holds the failing value).
  ValueError& at_index(std::size_t index);
  ValueError& at_key(std::string_view key);

 private:
  FarmErrc code_;
  std::string path_;
  std::string detail_;
};

template <class T>
using ReadResult = std::expected<T, ValueError>;

// "expected <expected>, got <kind of actual>".
ValueError type_mismatch(std::string_view expected, const flexbuffers::Reference& actual);
// "<value> does not fit in <type>".
ValueError out_of_range(std::int64_t value, std::string_view type);
ValueError out_of_range(std::uint64_t value, std::string_view type);
ValueError out_of_range(double value, std::string_view type);

}  // namespace rfarm::farm

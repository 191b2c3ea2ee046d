#include "farm/values/value_error.hpp"

#include <fmt/format.h>

#include "farm/values/value_kind.hpp"

namespace rfarm::farm {
namespace {

// Keys that read as identifiers print as ".key"; anything else as a quoted, escaped ["key"].
bool is_identifier(std::string_view key) noexcept {
  if (key.empty() || (key[0] >= '0' && key[0] <= '9')) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string ValueError::message() const { return path_.empty() ? detail_ : fmt::format("{}: {}", path_, detail_); }

std::string ValueError::describe_argument(std::size_t index, std::string_view task) const {
  if (path_.empty()) return fmt::format("argument {} of '{}': {}", index, task, detail_);
  return fmt::format("argument {} of '{}' at {}: {}", index, task, path_, detail_);
}

ValueError& ValueError::at_index(std::size_t index) {
  path_.insert(0, fmt::format("[{}]", index));
  return *this;
}

ValueError& ValueError::at_key(std::string_view key) {
  if (is_identifier(key)) {
    path_.insert(0, fmt::format(".{}", key));
  } else {
    std::string quoted;
    for (char c : key) {
      if (c == '"' || c == '\\') quoted += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        quoted += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
        continue;
      }
      quoted += c;
    }
    path_.insert(0, fmt::format("[\"{}\"]", quoted));
  }
  return *this;
}

ValueError type_mismatch(std::string_view expected, const flexbuffers::Reference& actual) {
  return {FarmErrc::type_mismatch, fmt::format("expected {}, got {}", expected, to_string(kind_of(actual)))};
}

ValueError out_of_range(std::int64_t value, std::string_view type) {
  return {FarmErrc::out_of_range, fmt::format("{} does not fit in {}", value, type)};
}

ValueError out_of_range(std::uint64_t value, std::string_view type) {
  return {FarmErrc::out_of_range, fmt::format("{} does not fit in {}", value, type)};
}

ValueError out_of_range(double value, std::string_view type) {
  return {FarmErrc::out_of_range, fmt::format("{} does not fit in {}", value, type)};
}

}  // namespace rfarm::farm

// Whole buffers: a C++ value to a finished FlexBuffer and back, for callers that hold bytes rather than a
// builder or a reference (tests, the CLI, a client decoding a result).
//
//     std::vector<std::uint8_t> bytes = encode_value(std::map<std::string, int>{{"a", 1}});
//     auto m = decode_value<std::map<std::string, int>>(as_const_bytes(bytes));   // verified, then read
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <cstdint>
#include <span>
#include <vector>

#include "farm/values/flex_verifier.hpp"
#include "farm/values/value_traits.hpp"
#include "lib/bytes.hpp"

namespace rfarm::farm {

template <WritableValue T>
std::vector<std::uint8_t> encode_value(const T& value) {
  flexbuffers::Builder b;
  ValueTraits<T>::write(b, value);
  b.Finish();
  return b.GetBuffer();
}

inline ConstBytes as_const_bytes(std::span<const std::uint8_t> bytes) noexcept { return std::as_bytes(bytes); }

// The root of bytes as T, after verify_flexbuffer; a verification failure is a ValueError with its code
// (FarmErrc::value_malformed, ...). Views (std::string_view, BlobView, Value) point into bytes.
template <ReadableValue T>
ReadResult<T> decode_value(ConstBytes bytes, const FlexLimits& limits = {}) {
  if (std::error_code ec = verify_flexbuffer(bytes, limits))
    return std::unexpected(ValueError(static_cast<FarmErrc>(ec.value()), ec.message()));
  return ValueTraits<T>::read(flexbuffers::GetRoot(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace rfarm::farm

// verify_flexbuffer: whether bytes from the network are a FlexBuffer the readers may walk.
//
// flatbuffers 2.0.8 ships flexbuffers::VerifyBuffer (which a `(flexbuffer)` field's generated verifier calls),
// but it cannot be used on input from a peer:
//  * it follows shared references every time it meets them, so a vector of n references to one n-element
//    vector costs n^2 steps: a 320 KB buffer takes 10 s to verify (measured; a 64 MiB frame, days);
//  * its reuse tracker, the cure for that, leaks nesting depth on every reused value, so valid buffers that
//    reuse values fail after 64 reuses;
//  * its depth limit (64) is fixed, and it checks alignment relative to the buffer, not in memory.
// This verifier walks the value once, as a reader would, with a budget: every element visited and every byte of
// a string, key or blob read costs one unit, and a value may cost at most expansion_factor units per byte of
// buffer. A tree-shaped value (what every FlexBuffers builder writes; only keys are shared) costs about one unit
// per byte; a value built from shared references to expand n-fold is rejected before the walk takes long. Since
// the budget bounds what any reader does (converting to C++, echoing, printing as JSON), it also bounds the work
// a peer can make a task or the CLI do with a small frame.
//
// It also checks: every offset and size lies inside the buffer; every type and width is valid; strings are
// NUL-terminated; a map has as many keys as values, its keys strictly ascending (no repeat); nesting of vectors and maps stays within max_depth; every
// scalar lies at an address aligned to its width (FlexBuffers' readers dereference in place). The typed vector of
// strings that FlexBuffers deprecated is refused.
//
//     if (std::error_code ec = verify_flexbuffer(bytes)) reject(ec);   // FarmErrc::value_malformed, ...
#pragma once

#include <cstdint>
#include <system_error>

#include "lib/bytes.hpp"

namespace rfarm::farm {

struct FlexLimits {
  // Vectors and maps inside one another; a task's argument vector is the first level.
  std::uint32_t max_depth = 32;
  // Reader work allowed per byte of buffer (plus a small constant for tiny buffers).
  std::uint32_t expansion_factor = 16;
};

// 0 if buffer holds a valid FlexBuffer within limits; else FarmErrc::value_malformed, value_too_deep,
// value_too_expansive, value_misaligned or value_keys_unordered.
std::error_code verify_flexbuffer(ConstBytes buffer, const FlexLimits& limits = {}) noexcept;

}  // namespace rfarm::farm

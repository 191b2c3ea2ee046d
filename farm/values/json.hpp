// JSON text for FlexBuffers values: what the farm CLI prints for a task's result.
//
//     to_json(v)          {"primes": 25, "name": "x", "raw": "AAEC"}
//     to_display_text(v)  like to_json, except that a string at the top level prints as itself, unquoted
//
// Choices, where JSON has no answer:
//  * Blobs print as a string of their standard base64 (RFC 4648, padded): JSON has no bytes, and base64 is the
//    form every language decodes. (That a value was a blob is not visible in the text.)
//  * Non-finite floats print as NaN, Infinity, -Infinity, as Python's json module writes them; strict JSON
//    has no way to say them, and printing null would hide a result.
//  * Floats print in the shortest form that reads back as the same double, with ".0" added to whole numbers so
//    that 3.0 stays a float. Integers print exactly, up to 2^64 - 1.
//  * Strings are escaped as JSON requires; bytes that are not UTF-8 print as U+FFFD.
//  * Output is compact with a space after ',' and ':' (Python's default): [1, 2], {"a": 1}.
// The value must be verified (flex_verifier.hpp) or built by this process.
#pragma once

#include <flatbuffers/flexbuffers.h>

#include <string>
#include <string_view>

#include "lib/bytes.hpp"

namespace rfarm::farm {

void append_json(std::string& out, const flexbuffers::Reference& value);
std::string to_json(const flexbuffers::Reference& value);
std::string to_display_text(const flexbuffers::Reference& value);

// The pieces, for other printers: a JSON string literal (quotes included), and base64 of bytes.
void append_json_string(std::string& out, std::string_view text);
void append_base64(std::string& out, ConstBytes bytes);

}  // namespace rfarm::farm

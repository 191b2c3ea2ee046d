// Command-line words as task arguments (`farm submit --server S count_primes 0 1000000`). A word becomes:
//
//     -12, 0, 18446744073709551615   an integer (int64, or uint64 above its range)
//     2.5, 1e9, -0.0                 a float (decimal, with a '.' or an exponent)
//     true, false, null              a bool, a bool, null
//     [1, "a"], {"k": 2}, "42"       JSON: a word starting with '[', '{' or '"' (so "42" is the string 42)
//     anything else                  a string, as it is (hello, 12abc, inf, 0x10)
//
//     FarmResult<std::vector<std::uint8_t>> args = encode_words({"0", "1000000"});   // [0, 1000000]
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <flatbuffers/flexbuffers.h>

#include "farm/error.hpp"

namespace rfarm::farm {

// Appends the value of one word; a JSON word that does not parse is the error ("bad JSON: ...").
FarmResult<void> write_word(flexbuffers::Builder& b, std::string_view word);

// The words as an argument vector; the error names the argument ("argument 2: bad JSON ...", from 1).
FarmResult<std::vector<std::uint8_t>> encode_words(std::span<const std::string> words);

}  // namespace rfarm::farm

// pattern(n, seed): n reproducible pseudo-random bytes, for payloads in which a misplaced, duplicated or
// dropped chunk cannot go unnoticed (unlike runs of one letter).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace rfarm::test {

inline std::string pattern(std::size_t n, std::uint32_t seed) {
  std::string s(n, '\0');
  std::uint32_t x = seed * 2654435761u + 1;
  for (char& c : s) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace rfarm::test

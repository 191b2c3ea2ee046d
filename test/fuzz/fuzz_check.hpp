// FUZZ_CHECK: an invariant of a fuzz target. A broken one prints what broke and aborts, so that libFuzzer
// stops and saves the input as crash-<sha1> (a plain assert would vanish under -DNDEBUG).
//
//     FUZZ_CHECK(reparsed == parsed, "parse(to_string(a)) != a");
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                                 \
  do {                                                                                              \
    if (!(condition)) {                                                                             \
      std::fprintf(stderr, "%s:%d: invariant broken: %s (%s)\n", __FILE__, __LINE__, what, #condition); \
      std::abort();                                                                                 \
    }                                                                                               \
  } while (false)

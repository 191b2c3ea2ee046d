// A module that needs a symbol nobody defines: RTLD_NOW refuses it at load time, not at its first call.
#include <cstdint>

#include "farm/tasks/task_definition.hpp"

extern "C" std::int64_t rfarm_test_symbol_nobody_defines(std::int64_t);

RFARM_TASK("needs_missing_symbol", [](std::int64_t x) { return rfarm_test_symbol_nobody_defines(x); })

RFARM_MODULE("unresolved")

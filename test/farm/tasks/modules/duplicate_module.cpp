// A module that defines one task name twice.
#include <cstdint>

#include "farm/tasks/task_definition.hpp"

RFARM_TASK("twice", [](std::int64_t x) { return x; })
RFARM_TASK("twice", [](std::int64_t x) { return -x; })

RFARM_MODULE("duplicates")

// A shared library with tasks but no RFARM_MODULE: the loader must say it is not a module.
#include <cstdint>

#include "farm/tasks/task_definition.hpp"

RFARM_TASK("orphan", [](std::int64_t x) { return x; })

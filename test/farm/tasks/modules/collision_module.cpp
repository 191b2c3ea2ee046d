// A module with one new task and one whose name the built-ins already use: it must be refused whole.
#include <cstdint>

#include "farm/tasks/task_definition.hpp"

RFARM_TASK("collision.fresh", [](std::int64_t x) { return x + 1; })
RFARM_TASK("add", [](std::int64_t a, std::int64_t b) { return a - b; })

RFARM_MODULE("collides")

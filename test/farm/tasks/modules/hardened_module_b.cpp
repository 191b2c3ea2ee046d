// The second object file of the hardened module: nothing in it is referenced from anywhere.
#include <cstdint>

#include "farm/tasks/task_definition.hpp"

namespace hardened {
RFARM_TASK("hardened.negate", [](std::int64_t x) { return -x; })
}  // namespace hardened

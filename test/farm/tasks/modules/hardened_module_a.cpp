// Built with -fvisibility=hidden -flto -ffunction-sections -fdata-sections -Wl,--gc-sections: the tasks of both
// files must survive into the table although nothing references them.
#include <cstdint>
#include <string>

#include "farm/tasks/task_definition.hpp"

namespace {
std::int64_t triple(std::int64_t x) { return 3 * x; }
}  // namespace

RFARM_TASK("hardened.triple", triple)
RFARM_TASK_INLINE("hardened.greet", [](std::string name) { return "hello " + name; })

RFARM_MODULE("hardened")

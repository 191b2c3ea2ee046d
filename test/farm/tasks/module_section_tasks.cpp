// Tasks in an object file nothing references: only the section keeps them (module_section_test.cpp).
#include <cstdint>
#include <string>

#include "farm/tasks/task_definition.hpp"

namespace {
std::string hello(const std::string& name) { return "hello, " + name; }
}  // namespace

RFARM_TASK("section.hello", hello)
RFARM_TASK_INLINE("section.fast", [](std::int64_t x) { return x + 1; })

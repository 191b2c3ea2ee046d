// The example task module's entry point. Its tasks live in the other files of this folder; RFARM_MODULE finds them
// all (farm/tasks/task_definition.hpp explains how).
#include "farm/tasks/task_definition.hpp"

RFARM_MODULE("example_tasks")

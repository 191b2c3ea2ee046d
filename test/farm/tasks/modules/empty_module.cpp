// A module without tasks: it links (the section bounds are weak) and loads with an empty table.
#include "farm/tasks/task_definition.hpp"

RFARM_MODULE("empty")

// The tasks every farm server has, whatever modules it loads:
//
//   add(x, ...)       the sum of its numeric arguments: an integer if all are integers (overflow is an error),
//                     a float as soon as one is a float; add() is 0. Inline.
//   echo(x, ...)      its arguments, as a vector. Inline.
//   sleep_ms(n)       sleeps n milliseconds (0 to 86,400,000) on a worker, returns null; stops early with a
//                     cancelled or deadline_exceeded failure when the task is cancelled or its deadline passes.
//   fail(message)     fails with kind task_error and that message. Inline.
//   info()            a map describing the server: version, cores, workers, modules [{name, sha256, source,
//                     tasks}], uptime_ms, tasks_run (from TaskContext::server(); an error outside a server).
//                     Inline.
#pragma once

#include "farm/error.hpp"
#include "farm/tasks/task_registry.hpp"

namespace rfarm::farm {

// Adds the five built-ins (origin "builtin"); fails if one of their names is taken.
FarmResult<void> register_builtin_tasks(TaskRegistry& registry);

}  // namespace rfarm::farm

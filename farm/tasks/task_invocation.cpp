// invoke_task (declared in task_registry.hpp): from the received argument bytes to a finished result buffer.
#include <fmt/format.h>

#include "farm/tasks/task_registry.hpp"
#include "farm/values/value_kind.hpp"
#include "farm/values/vector_view.hpp"

namespace rfarm::farm {

TaskOutcome invoke_task(const TaskDescriptor& task, TaskContext& context, ConstBytes args,
                        flexbuffers::Builder& out) noexcept {
  try {
    context.set_task_name(task.name);
    VectorView arguments;
    if (!args.empty()) {
      flexbuffers::Reference root =
          flexbuffers::GetRoot(reinterpret_cast<const std::uint8_t*>(args.data()), args.size());
      auto view = VectorView::of(root);
      if (!view)
        return TaskOutcome::failure(FailureKind::bad_arguments,
                                    fmt::format("the arguments of '{}' must be a vector, got {}", task.name,
                                                to_string(kind_of(root))));
      arguments = *view;
    }
    out.Clear();
    TaskOutcome outcome = task.invoke(task.target, context, Args(arguments), out);
    if (!outcome.ok()) return outcome;
    // StartVector() only reports how many values wait on the builder's stack: exactly one, the result, unless a
    // hand-written ValueTraits::write wrote none or several (Finish() would assert).
    if (std::size_t values = out.StartVector(); values != 1)
      return TaskOutcome::failure(FailureKind::server_error,
                                  fmt::format("the result of '{}' was encoded as {} values, not 1", task.name, values));
    out.Finish();
    return outcome;
  } catch (const std::exception& e) {  // out of memory around the task (its own exceptions are caught inside)
    return TaskOutcome::failure(FailureKind::server_error, e.what());
  }
}

}  // namespace rfarm::farm

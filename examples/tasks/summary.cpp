// summarize(numbers) -> Summary, and merge_summaries(a, b) -> Summary: tasks whose argument and result are a user
// type (summary.hpp).
#include "summary.hpp"

#include <algorithm>
#include <vector>

#include "farm/tasks/task_definition.hpp"

namespace {

using example::Summary;

Summary summarize(const std::vector<double>& numbers) {
  Summary s;
  for (double x : numbers) {
    ++s.count;
    s.sum += x;
    s.min = s.min ? std::min(*s.min, x) : x;
    s.max = s.max ? std::max(*s.max, x) : x;
  }
  return s;
}

Summary merge_summaries(const Summary& a, const Summary& b) {
  Summary s{a.count + b.count, a.sum + b.sum, a.min, a.max};
  if (b.min) s.min = s.min ? std::min(*s.min, *b.min) : b.min;
  if (b.max) s.max = s.max ? std::max(*s.max, *b.max) : b.max;
  return s;
}

}  // namespace

RFARM_TASK("summarize", summarize)
RFARM_TASK_INLINE("merge_summaries", merge_summaries)

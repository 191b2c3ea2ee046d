// Operations whose completion must run later in the current loop turn rather than inside the call that
// finished them: cancellations (close() never re-enters its caller) and callback-style operations that
// completed at once (a handler never runs inside the function that started it, so it may start the next
// operation without recursion).
//
// Not API (detail/): installed because backend.hpp, which reactor/loop/reactor.hpp needs, includes it.
#pragma once

#include <cstddef>

#include "lib/intrusive_list.hpp"
#include "reactor/backend/detail/io_op.hpp"

namespace rfarm::detail {

class CompletionQueue {
 public:
  // op.pending must already be set (by the backend, or by start_and_defer below).
  void push(IoOp& op) noexcept { ops_.push_back(op); }
  bool empty() const noexcept { return ops_.empty(); }

  // Runs the completions queued so far; those queued meanwhile wait for the next call, so a handler that
  // keeps completing at once cannot starve the poller.
  std::size_t run() noexcept {
    IntrusiveList<IoOp> batch;
    batch.splice_back(ops_);
    std::size_t n = 0;
    while (!batch.empty()) {
      IoOp& op = batch.pop_front();
      op.pending = false;
      op.complete(op);
      ++n;
    }
    return n;
  }

 private:
  IntrusiveList<IoOp> ops_;
};

}  // namespace rfarm::detail

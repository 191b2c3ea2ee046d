// lparallel's cognates over the farm: pmap (results in input order), preduce (a tree of remote reductions),
// pmap_reduce (map remotely, fold locally). Each input is one task's arguments: a std::tuple spreads into several
// arguments, anything else is the single argument.
//
//     std::vector<std::tuple<std::int64_t, std::int64_t>> chunks = ...;            // [lo, hi) ranges
//     std::vector<std::int64_t> counts = pmap<std::int64_t>(kernel, "count_primes", chunks);
//     std::int64_t total = pmap_reduce<std::int64_t>(kernel, "count_primes", chunks, std::plus<>(), 0);
//     std::int64_t sum = preduce<std::int64_t>(kernel, "add", std::vector<std::int64_t>{1, 2, 3, 4});   // 10
//
// All tasks of a call are handed to the kernel at once (one wake-up); the call waits for all of them. The first
// failure in input order throws TaskExecutionError after every task has answered; pmap_outcomes gives each
// input's value or failure instead.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "farm/client/kernel.hpp"

namespace rfarm::farm {

namespace detail {

template <class R>
class OrderedSink final : public ResultSink {
 public:
  OrderedSink(std::size_t n, std::string task) : slots_(n), remaining_(n), task_(std::move(task)) {}
  void complete(std::uint64_t tag, RemoteResult result) override {
    bool last = false;
    {
      std::lock_guard lock(mutex_);
      if constexpr (std::is_same_v<R, TaskResult>) slots_[tag] = std::move(result);
      else slots_[tag] = result_as<R>(result, task_);
      last = --remaining_ == 0;
    }
    if (last) done_.notify_all();
  }
  std::vector<std::expected<R, RemoteFailure>> wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return remaining_ == 0; });
    std::vector<std::expected<R, RemoteFailure>> out;
    out.reserve(slots_.size());
    for (auto& s : slots_) out.push_back(std::move(*s));
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<std::optional<std::expected<R, RemoteFailure>>> slots_;
  std::size_t remaining_;
  std::string task_;
};

}  // namespace detail

template <class R, class Range>
std::vector<std::expected<R, RemoteFailure>> pmap_outcomes(Kernel& kernel, std::string_view task, const Range& inputs,
                                                           const TaskPolicy& policy) {
  std::size_t n = static_cast<std::size_t>(std::distance(std::begin(inputs), std::end(inputs)));
  if (n == 0) return {};
  auto sink = std::make_shared<detail::OrderedSink<R>>(n, std::string(task));
  std::vector<TaskRecord> records;
  records.reserve(n);
  std::uint64_t i = 0;
  for (const auto& input : inputs) records.push_back(Kernel::make_record(task, encode_input(input), policy, sink, i++));
  kernel.submit_many(std::move(records));
  return sink->wait();
}

template <class R, class Range>
std::vector<std::expected<R, RemoteFailure>> pmap_outcomes(Kernel& kernel, std::string_view task, const Range& inputs) {
  return pmap_outcomes<R>(kernel, task, inputs, kernel.options().default_policy);
}

template <class R, class Range>
std::vector<R> pmap(Kernel& kernel, std::string_view task, const Range& inputs) {
  std::vector<R> values;
  for (auto& r : pmap_outcomes<R>(kernel, task, inputs)) {
    if (!r) throw TaskExecutionError(std::move(r.error()));
    values.push_back(std::move(*r));
  }
  return values;
}

// Maps remotely, then folds the results locally in input order: reduce(reduce(initial, r0), r1) ...
template <class R, class Range, class Fn>
R pmap_reduce(Kernel& kernel, std::string_view map_task, const Range& inputs, Fn reduce, R initial) {
  for (R& r : pmap<R>(kernel, map_task, inputs)) initial = reduce(std::move(initial), std::move(r));
  return initial;
}

// Reduces with a remote binary task, a level of the tree at a time: [a, b, c, d] -> [f(a, b), f(c, d)] -> ...
// An empty input is std::invalid_argument; one element is returned as it is.
template <class T>
T preduce(Kernel& kernel, std::string_view task, std::vector<T> values) {
  if (values.empty()) throw std::invalid_argument("preduce of an empty sequence");
  while (values.size() > 1) {
    std::vector<std::tuple<T, T>> pairs;
    for (std::size_t i = 0; i + 1 < values.size(); i += 2) pairs.emplace_back(values[i], values[i + 1]);
    std::vector<T> next = pmap<T>(kernel, task, pairs);
    if (values.size() % 2 == 1) next.push_back(std::move(values.back()));
    values = std::move(next);
  }
  return std::move(values.front());
}

}  // namespace rfarm::farm

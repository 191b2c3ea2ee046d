// Channel: lparallel's channel. Submit tasks; receive their results in the order they complete.
//
//     Channel channel(kernel);
//     for (int i = 0; i < 100; ++i) channel.submit("count_primes", i * 100000, (i + 1) * 100000);
//     std::int64_t total = 0;
//     for (int i = 0; i < 100; ++i) total += channel.receive_result().as<std::int64_t>().value();
//     if (auto r = channel.try_receive_result(100ms)) ...;     // nullopt: nothing completed within 100 ms
//
//     std::vector<std::tuple<int, int>> ranges = ...;
//     channel.submit_batch("count_primes", ranges);           // one hand-off per chunk, not one per task
//     if (channel.try_submit("add", 1, 2) == std::errc::resource_unavailable_try_again) ...;   // the kernel is full
//
// Backpressure (KernelOptions::max_unsent): submit and submit_batch wait while the kernel holds that many unsent
// tasks; try_submit does not wait.
//
// receive_result / try_receive_result throw TaskExecutionError for a failed task (lparallel signals it);
// receive_outcome / try_receive_outcome return it instead. Receiving with nothing outstanding does not block: it
// is a failure of kind cancelled ("no task outstanding"). Any thread; one channel may be shared.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <tuple>
#include <string_view>

#include "farm/client/kernel.hpp"

namespace rfarm::farm {

namespace detail {
class ChannelSink;
}

class Channel {
 public:
  explicit Channel(Kernel& kernel);
  Channel(Kernel& kernel, TaskPolicy policy);

  template <class... A>
  void submit(std::string_view task, const A&... args) {
    submit_encoded(task, encode_args(args...));
  }
  void submit_encoded(std::string_view task, std::vector<std::uint8_t> args);

  // As submit, but std::errc::resource_unavailable_try_again instead of waiting when the kernel is full (nothing
  // was submitted then), operation_canceled after the kernel closed.
  template <class... A>
  std::error_code try_submit(std::string_view task, const A&... args) {
    return try_submit_encoded(task, encode_args(args...));
  }
  std::error_code try_submit_encoded(std::string_view task, std::vector<std::uint8_t> args);

  // Many tasks of one name, each with its own arguments (a tuple per task), handed to the kernel in as few
  // hand-offs as backpressure allows.
  template <class... A>
  void submit_batch(std::string_view task, const std::vector<std::tuple<A...>>& args_list) {
    std::vector<std::vector<std::uint8_t>> encoded;
    encoded.reserve(args_list.size());
    for (const auto& args : args_list)
      encoded.push_back(std::apply([](const auto&... a) { return encode_args(a...); }, args));
    submit_batch_encoded(task, std::move(encoded));
  }
  void submit_batch_encoded(std::string_view task, std::vector<std::vector<std::uint8_t>> args_list);

  TaskResult receive_result();
  std::optional<TaskResult> try_receive_result(Duration timeout);
  RemoteResult receive_outcome();
  std::optional<RemoteResult> try_receive_outcome(Duration timeout);

  // lparallel's kill-tasks for this channel: every task submitted here and not yet answered is answered
  // `cancelled` (each arrives through receive_outcome like any answer), and its server is sent a Cancel if it
  // granted the feature; future.cancel() explains the rest. True if the request was made; false if nothing is
  // outstanding or the kernel closed (answers that come first still win). Tasks still blocked in
  // submit (backpressure) on another thread are not yet the kernel's and are not cancelled.
  //     channel.cancel();
  //     while (channel.outstanding() > 0) channel.receive_outcome();   // the cancelled ones, and any that won
  bool cancel();

  // Submitted and not yet received.
  std::size_t outstanding() const;

 private:
  Kernel* kernel_;
  TaskPolicy policy_;
  std::shared_ptr<detail::ChannelSink> sink_;
};

}  // namespace rfarm::farm

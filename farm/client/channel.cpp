#include "farm/client/channel.hpp"

#include <utility>

#include "farm/client/spin_wait.hpp"

namespace rfarm::farm {

namespace detail {

class ChannelSink final : public ResultSink {
 public:
  explicit ChannelSink(std::chrono::microseconds spin) noexcept : spin_(spin) {}
  void complete(std::uint64_t, RemoteResult result) override {
    {
      std::lock_guard lock(mutex_);
      done_.push_back(std::move(result));
    }
    ready_.notify_one();
  }
  void submitted(std::size_t n = 1) {
    std::lock_guard lock(mutex_);
    outstanding_ += n;
  }
  void withdrawn() {
    std::lock_guard lock(mutex_);
    --outstanding_;
  }
  std::size_t outstanding() const {
    std::lock_guard lock(mutex_);
    return outstanding_;
  }
  // nullopt after timeout (negative: none).
  std::optional<RemoteResult> take(Duration timeout, std::string_view caller) {
    std::unique_lock lock(mutex_);
    if (outstanding_ == 0)
      return RemoteResult(std::unexpected(
          RemoteFailure{FailureKind::cancelled, std::string(caller) + ": no task outstanding on this channel", ""}));
    auto arrived = [&] { return !done_.empty(); };
    if (timeout.count() < 0) {
      if (!spin_until(lock, spin_, arrived)) ready_.wait(lock, arrived);
    } else if (!ready_.wait_for(lock, timeout, arrived)) {
      return std::nullopt;
    }
    RemoteResult r = std::move(done_.front());
    done_.pop_front();
    --outstanding_;
    return r;
  }

 private:
  std::chrono::microseconds spin_;  // KernelOptions::spin: look before sleeping (spin_wait.hpp)
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RemoteResult> done_;
  std::size_t outstanding_ = 0;
};

}  // namespace detail

Channel::Channel(Kernel& kernel) : Channel(kernel, kernel.options().default_policy) {}

Channel::Channel(Kernel& kernel, TaskPolicy policy)
    : kernel_(&kernel), policy_(policy), sink_(std::make_shared<detail::ChannelSink>(kernel.options().spin)) {}

void Channel::submit_encoded(std::string_view task, std::vector<std::uint8_t> args) {
  sink_->submitted();
  kernel_->submit_one(Kernel::make_record(task, std::move(args), policy_, sink_, 0));
}

std::error_code Channel::try_submit_encoded(std::string_view task, std::vector<std::uint8_t> args) {
  sink_->submitted();  // before the task can complete
  TaskRecord record = Kernel::make_record(task, std::move(args), policy_, sink_, 0);
  std::error_code ec = kernel_->try_submit_one(record);
  if (ec) sink_->withdrawn();
  return ec;
}

void Channel::submit_batch_encoded(std::string_view task, std::vector<std::vector<std::uint8_t>> args_list) {
  std::vector<TaskRecord> records;
  records.reserve(args_list.size());
  for (auto& args : args_list) records.push_back(Kernel::make_record(task, std::move(args), policy_, sink_, 0));
  sink_->submitted(records.size());
  kernel_->submit_many(std::move(records));
}

RemoteResult Channel::receive_outcome() { return *sink_->take(Duration(-1), "receive_result"); }

std::optional<RemoteResult> Channel::try_receive_outcome(Duration timeout) {
  return sink_->take(timeout < Duration(0) ? Duration(0) : timeout, "try_receive_result");
}

TaskResult Channel::receive_result() { return value_or_throw(receive_outcome()); }

std::optional<TaskResult> Channel::try_receive_result(Duration timeout) {
  std::optional<RemoteResult> r = try_receive_outcome(timeout);
  if (!r) return std::nullopt;
  return value_or_throw(std::move(*r));
}

bool Channel::cancel() { return sink_->outstanding() > 0 && kernel_->canceller(sink_)(); }

std::size_t Channel::outstanding() const { return sink_->outstanding(); }

}  // namespace rfarm::farm

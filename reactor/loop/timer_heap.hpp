// A binary min-heap of intrusive timer nodes: insert, cancel and pop are O(log n), nothing is allocated per
// timer beyond the heap's vector growth. Nodes with equal deadlines fire in insertion order.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace rfarm::detail {

using Clock = std::chrono::steady_clock;

struct TimerNode {
  using FireFn = void (*)(TimerNode&) noexcept;
  static constexpr std::size_t kNotArmed = std::numeric_limits<std::size_t>::max();

  explicit TimerNode(FireFn fn = nullptr) noexcept : fire(fn) {}
  TimerNode(const TimerNode&) = delete;
  TimerNode& operator=(const TimerNode&) = delete;

  bool armed() const noexcept { return heap_index != kNotArmed; }

  Clock::time_point deadline{};
  std::uint64_t sequence = 0;
  std::size_t heap_index = kNotArmed;
  FireFn fire;
};

class TimerHeap {
 public:
  void insert(TimerNode& node, Clock::time_point deadline);
  void remove(TimerNode& node) noexcept;
  bool empty() const noexcept { return heap_.empty(); }
  std::size_t size() const noexcept { return heap_.size(); }
  TimerNode& top() const noexcept { return *heap_.front(); }
  // Removes and returns the earliest node if its deadline is at or before now.
  TimerNode* pop_expired(Clock::time_point now) noexcept;

 private:
  static bool earlier(const TimerNode* a, const TimerNode* b) noexcept {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->sequence < b->sequence);
  }
  void place(std::size_t index, TimerNode* node) noexcept {
    heap_[index] = node;
    node->heap_index = index;
  }
  void sift_up(std::size_t index) noexcept;
  void sift_down(std::size_t index) noexcept;

  std::vector<TimerNode*> heap_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace rfarm::detail

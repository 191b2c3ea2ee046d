#include "reactor/loop/timer_heap.hpp"

#include <cassert>

namespace rfarm::detail {

void TimerHeap::insert(TimerNode& node, Clock::time_point deadline) {
  assert(!node.armed());
  node.deadline = deadline;
  node.sequence = next_sequence_++;
  heap_.push_back(&node);
  node.heap_index = heap_.size() - 1;
  sift_up(node.heap_index);
}

void TimerHeap::remove(TimerNode& node) noexcept {
  if (!node.armed()) return;
  std::size_t index = node.heap_index;
  TimerNode* last = heap_.back();
  heap_.pop_back();
  node.heap_index = TimerNode::kNotArmed;
  if (last == &node) return;
  place(index, last);
  // The moved node may belong above or below its new position.
  if (index > 0 && earlier(last, heap_[(index - 1) / 2])) {
    sift_up(index);
  } else {
    sift_down(index);
  }
}

TimerNode* TimerHeap::pop_expired(Clock::time_point now) noexcept {
  if (heap_.empty() || heap_.front()->deadline > now) return nullptr;
  TimerNode* node = heap_.front();
  remove(*node);
  return node;
}

void TimerHeap::sift_up(std::size_t index) noexcept {
  TimerNode* node = heap_[index];
  while (index > 0) {
    std::size_t parent = (index - 1) / 2;
    if (!earlier(node, heap_[parent])) break;
    place(index, heap_[parent]);
    index = parent;
  }
  place(index, node);
}

void TimerHeap::sift_down(std::size_t index) noexcept {
  TimerNode* node = heap_[index];
  const std::size_t n = heap_.size();
  for (;;) {
    std::size_t child = 2 * index + 1;
    if (child >= n) break;
    if (child + 1 < n && earlier(heap_[child + 1], heap_[child])) ++child;
    if (!earlier(heap_[child], node)) break;
    place(index, heap_[child]);
    index = child;
  }
  place(index, node);
}

}  // namespace rfarm::detail

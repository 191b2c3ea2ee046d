// A doubly linked intrusive list: O(1) push, pop and unlink of any element, no allocation.
// Used for queues of pending operations, where the operation object lives in its caller.
#pragma once

#include <cassert>

namespace rfarm {

struct ListHook {
  ListHook* prev = nullptr;
  ListHook* next = nullptr;
  bool linked() const noexcept { return prev != nullptr; }
};

// T must derive from ListHook (possibly through a base).
template <class T>
class IntrusiveList {
 public:
  IntrusiveList() noexcept { head_.prev = head_.next = &head_; }
  IntrusiveList(const IntrusiveList&) = delete;
  IntrusiveList& operator=(const IntrusiveList&) = delete;

  bool empty() const noexcept { return head_.next == &head_; }
  T& front() noexcept { return *static_cast<T*>(head_.next); }

  void push_back(T& item) noexcept {
    ListHook& h = item;
    assert(!h.linked());
    h.prev = head_.prev;
    h.next = &head_;
    head_.prev->next = &h;
    head_.prev = &h;
  }

  T& pop_front() noexcept {
    T& item = front();
    unlink(item);
    return item;
  }

  static void unlink(T& item) noexcept {
    ListHook& h = item;
    h.prev->next = h.next;
    h.next->prev = h.prev;
    h.prev = h.next = nullptr;
  }

  // The first element for which pred holds, or nullptr: a linear walk, for short lists.
  template <class Pred>
  T* find_first(Pred pred) noexcept {
    for (ListHook* h = head_.next; h != &head_; h = h->next)
      if (pred(*static_cast<T*>(h))) return static_cast<T*>(h);
    return nullptr;
  }

  // Moves every element of other to the end of this list.
  void splice_back(IntrusiveList& other) noexcept {
    if (other.empty()) return;
    ListHook* first = other.head_.next;
    ListHook* last = other.head_.prev;
    first->prev = head_.prev;
    head_.prev->next = first;
    last->next = &head_;
    head_.prev = last;
    other.head_.prev = other.head_.next = &other.head_;
  }

 private:
  ListHook head_;
};

}  // namespace rfarm

// CrossCoreQueue<T>: a bounded single-producer single-consumer ring, the lane between two cores.
//
// One thread pushes, one thread consumes (the two may be the same thread). Nothing is locked and nothing is
// allocated after construction. The producer's and the consumer's indices sit on cache lines of their own,
// each next to a private copy of the other side's index, so in steady state a push touches only the
// producer's line and the slot, and the consumer reads the producer's line once per batch, not per item.
//
// Pushes become visible in batches: try_push() writes the slot, publish() hands everything pushed so far to
// the consumer with one store. consume() runs a batch and frees its slots with one store.
//
//     CrossCoreQueue<int> q(256);
//     q.try_push(1); q.try_push(2); q.publish();         // producer thread
//     q.consume(64, [](int& v) { use(v); });              // consumer thread: runs 1, 2
//
// The indices grow without wrapping (64 bits: centuries at a billion items a second); a slot is
// index & (capacity - 1).
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>

namespace rfarm::detail {

// 64 bytes on the x86-64 and arm64 cores we run on; std::hardware_destructive_interference_size would make
// the layout depend on compiler flags (GCC warns about exactly that).
inline constexpr std::size_t kCacheLine = 64;

template <class T>
class CrossCoreQueue {
 public:
  // capacity is rounded up to a power of two (at least 2).
  explicit CrossCoreQueue(std::size_t capacity)
      : mask_(std::bit_ceil(std::max<std::size_t>(capacity, 2)) - 1),
        slots_(static_cast<Slot*>(::operator new[]((mask_ + 1) * sizeof(Slot), kSlotsAlignment))) {}
  CrossCoreQueue(const CrossCoreQueue&) = delete;
  CrossCoreQueue& operator=(const CrossCoreQueue&) = delete;
  // Destroys the items never consumed. Neither side may be using the queue any more.
  ~CrossCoreQueue() {
    const std::uint64_t end = producer_.pushed;
    for (std::uint64_t i = consumer_.head.load(std::memory_order_relaxed); i != end; ++i) slot(i).destroy();
    ::operator delete[](slots_, kSlotsAlignment);
  }

  std::size_t capacity() const noexcept { return mask_ + 1; }

  // --- producer side

  // Moves value into the queue, invisible to the consumer until publish(). False (value untouched) if full.
  bool try_push(T&& value) noexcept {
    std::uint64_t tail = producer_.pushed;
    if (tail - producer_.cached_head == capacity()) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);  // slots freed since
      if (tail - producer_.cached_head == capacity()) return false;
    }
    slot(tail).construct(std::move(value));
    producer_.pushed = tail + 1;
    return true;
  }

  // Constructs the item in its slot from args (no temporary to move). False (args untouched) if full.
  template <class... Args>
  bool try_emplace(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args&&...>) {
    std::uint64_t tail = producer_.pushed;
    if (tail - producer_.cached_head == capacity()) {
      producer_.cached_head = consumer_.head.load(std::memory_order_acquire);
      if (tail - producer_.cached_head == capacity()) return false;
    }
    ::new (static_cast<void*>(slot(tail).storage)) T(std::forward<Args>(args)...);
    producer_.pushed = tail + 1;
    return true;
  }

  // Makes every pushed item visible to the consumer; returns how many were not visible before. The store is
  // sequentially consistent: a producer that then reads the consumer's "about to sleep" flag is ordered
  // after it (the mailbox's wake-up protocol relies on that; see mailbox.hpp).
  std::size_t publish() noexcept {
    const std::uint64_t published = producer_.published;
    if (producer_.pushed == published) return 0;
    producer_.published = producer_.pushed;
    producer_.tail.store(producer_.pushed, std::memory_order_seq_cst);
    return static_cast<std::size_t>(producer_.pushed - published);
  }

  // Pushed items not yet published.
  std::size_t unpublished() const noexcept { return static_cast<std::size_t>(producer_.pushed - producer_.published); }

  // Whether the ring is full as far as the producer can tell (re-reading the consumer's index).
  bool full_for_producer() noexcept {
    producer_.cached_head = consumer_.head.load(std::memory_order_seq_cst);
    return producer_.pushed - producer_.cached_head == capacity();
  }

  // --- consumer side

  // Calls f(item) for up to max published items, in order, then frees their slots with one store (sequentially
  // consistent, for the same reason as publish()). Returns how many ran. f may push to this queue when the
  // consumer is also the producer; it must not consume from it.
  template <class F>
  std::size_t consume(std::size_t max, F&& f) {
    std::uint64_t head = consumer_.head.load(std::memory_order_relaxed);
    if (head == consumer_.cached_tail) {
      consumer_.cached_tail = producer_.tail.load(std::memory_order_acquire);
      if (head == consumer_.cached_tail) return 0;
    }
    const std::uint64_t end = head + std::min<std::uint64_t>(max, consumer_.cached_tail - head);
    const std::size_t n = static_cast<std::size_t>(end - head);
    for (; head != end; ++head) {
      Slot& s = slot(head);
      f(s.item());
      s.destroy();
    }
    consumer_.head.store(end, std::memory_order_seq_cst);
    return n;
  }

  // Whether consume() would find something (a sequentially consistent read of the producer's index).
  bool has_published() const noexcept {
    return producer_.tail.load(std::memory_order_seq_cst) != consumer_.head.load(std::memory_order_relaxed);
  }

 private:
  struct alignas(alignof(T) > kCacheLine ? alignof(T) : 16) Slot {
    alignas(T) unsigned char storage[sizeof(T)];
    T& item() noexcept { return *std::launder(reinterpret_cast<T*>(storage)); }
    void construct(T&& value) noexcept { ::new (static_cast<void*>(storage)) T(std::move(value)); }
    void destroy() noexcept { item().~T(); }
  };
  static_assert(std::is_nothrow_move_constructible_v<T>, "queue items are moved in without a way to fail");
  // Cache-line aligned, so a 64-byte item never straddles two lines.
  static constexpr std::align_val_t kSlotsAlignment{alignof(Slot) > kCacheLine ? alignof(Slot) : kCacheLine};

  Slot& slot(std::uint64_t index) const noexcept { return slots_[index & mask_]; }

  // Written by the producer only (tail is read by the consumer).
  struct alignas(kCacheLine) ProducerSide {
    std::atomic<std::uint64_t> tail{0};  // published
    std::uint64_t pushed = 0;            // written, maybe not yet published
    std::uint64_t published = 0;         // private copy of tail
    std::uint64_t cached_head = 0;       // the consumer's head, as last read
  };
  // Written by the consumer only (head is read by the producer).
  struct alignas(kCacheLine) ConsumerSide {
    std::atomic<std::uint64_t> head{0};
    std::uint64_t cached_tail = 0;  // the producer's tail, as last read
  };

  const std::uint64_t mask_;
  Slot* const slots_;
  ProducerSide producer_;
  ConsumerSide consumer_;
};

}  // namespace rfarm::detail

// Counts heap allocations of this test executable: replaces the global operator new / delete, so include it
// in exactly one source file of an executable (each test file is its own executable). Single-threaded tests.
//
//     AllocationCounter counter;                    // starts counting now
//     ... the code under test ...
//     EXPECT_EQ(counter.count(), 0u);               // allocations since the counter was made
//     EXPECT_LT(counter.largest(), 1u << 20);       // the largest single allocation since then
//     EXPECT_LT(live_heap_bytes() - before, 4096u);  // bytes still allocated (usable sizes, as malloc hands out)
#pragma once

#include <malloc.h>

#include <cstddef>
#include <cstdlib>
#include <new>

namespace rfarm::test {

struct AllocationStats {
  std::size_t count = 0;
  std::size_t largest = 0;
  std::size_t live_bytes = 0;  // malloc_usable_size of every block not yet freed
};
inline AllocationStats g_allocations;

// Heap bytes allocated with operator new and not yet deleted.
inline std::size_t live_heap_bytes() noexcept { return g_allocations.live_bytes; }

inline void counted_free(void* p) noexcept {
  if (p != nullptr) g_allocations.live_bytes -= malloc_usable_size(p);
  std::free(p);
}

class AllocationCounter {
 public:
  AllocationCounter() noexcept : start_(g_allocations.count) { g_allocations.largest = 0; }
  std::size_t count() const noexcept { return g_allocations.count - start_; }
  std::size_t largest() const noexcept { return g_allocations.largest; }

 private:
  std::size_t start_;
};

inline void* counted_allocation(std::size_t size, std::size_t alignment) {
  ++g_allocations.count;
  if (size > g_allocations.largest) g_allocations.largest = size;
  void* p = alignment > alignof(std::max_align_t) ? std::aligned_alloc(alignment, (size + alignment - 1) / alignment * alignment)
                                                  : std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  g_allocations.live_bytes += malloc_usable_size(p);
  return p;
}

}  // namespace rfarm::test

void* operator new(std::size_t size) { return rfarm::test::counted_allocation(size, 0); }
void* operator new[](std::size_t size) { return rfarm::test::counted_allocation(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) {
  return rfarm::test::counted_allocation(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return rfarm::test::counted_allocation(size, static_cast<std::size_t>(a));
}
// The nothrow forms too: the library allocates with new (std::nothrow), and a sanitizer's own nothrow new paired
// with the free() below is an alloc-dealloc mismatch.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return rfarm::test::counted_allocation(size, 0);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return rfarm::test::counted_allocation(size, 0);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept { rfarm::test::counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { rfarm::test::counted_free(p); }
void operator delete(void* p) noexcept { rfarm::test::counted_free(p); }
void operator delete[](void* p) noexcept { rfarm::test::counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { rfarm::test::counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { rfarm::test::counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { rfarm::test::counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { rfarm::test::counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { rfarm::test::counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { rfarm::test::counted_free(p); }

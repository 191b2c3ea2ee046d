#include "lib/buffer_pool.hpp"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <new>

namespace rfarm {

namespace {
constexpr std::align_val_t kBufferAlignment{64};  // cache-line aligned: buffers never share a line
}

BufferPool::BufferPool(std::size_t buffer_size, std::size_t max_cached)
    : buffer_size_(static_cast<std::uint32_t>(buffer_size)),
      max_cached_(static_cast<std::uint32_t>(std::min<std::size_t>(max_cached, UINT32_MAX))) {
  assert(buffer_size > 0 && buffer_size <= UINT32_MAX);
}

BufferPool::~BufferPool() {
  assert(leased_ == 0 && "PooledBuffer outlived its BufferPool");
  while (std::byte* b = pop_free()) deallocate(b);
}

std::byte* BufferPool::allocate() {
  // A free buffer holds the free list's link, so even a tiny one takes its size.
  auto* base = static_cast<std::byte*>(::operator new(std::max<std::size_t>(buffer_size_, sizeof(FreeBuffer)),
                                                      kBufferAlignment));
  ++allocated_;
  return base;
}

void BufferPool::deallocate(std::byte* base) noexcept { ::operator delete(base, kBufferAlignment); }

}  // namespace rfarm

#include "lib/buffer_pool.hpp"

#include <cassert>
#include <new>

namespace rfarm {

namespace {
constexpr std::align_val_t kBufferAlignment{64};  // cache-line aligned: buffers never share a line
}

BufferPool::BufferPool(std::size_t buffer_size, std::size_t max_cached)
    : buffer_size_(buffer_size), max_cached_(max_cached) {
  assert(buffer_size > 0 && buffer_size <= UINT32_MAX);
}

BufferPool::~BufferPool() {
  assert(leased_ == 0 && "PooledBuffer outlived its BufferPool");
  for (std::byte* b : free_) ::operator delete(b, kBufferAlignment);
}

PooledBuffer BufferPool::acquire() {
  std::byte* base;
  if (!free_.empty()) {
    base = free_.back();
    free_.pop_back();
  } else {
    base = static_cast<std::byte*>(::operator new(buffer_size_, kBufferAlignment));
    ++allocated_;
  }
  ++leased_;
  return PooledBuffer(this, base, static_cast<std::uint32_t>(buffer_size_), 0);
}

void BufferPool::recycle(std::byte* base, std::uint32_t) noexcept {
  --leased_;
  if (free_.size() < max_cached_) {
    try {
      free_.push_back(base);
      return;
    } catch (...) {  // out of memory growing the free list: just free the buffer
    }
  }
  ::operator delete(base, kBufferAlignment);
}

}  // namespace rfarm

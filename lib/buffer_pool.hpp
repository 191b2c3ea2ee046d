// Leased, recycled receive buffers.
//
// A PooledBuffer is a move-only lease on a fixed-capacity buffer; destroying it hands the memory back to the
// BufferSource it came from. Two sources exist: BufferPool (a free list, used by the epoll backend and by
// buffered streams) and the io_uring provided-buffer ring (buffers go back into the kernel's ring). Receiving
// into a leased buffer at completion time means an idle connection pins no receive memory.
//
//     rfarm::BufferPool pool(16 * 1024);
//     rfarm::PooledBuffer b = pool.acquire();   // b.capacity() == 16384, b.size() == 0
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <span>
#include <utility>

#include "lib/bytes.hpp"

namespace rfarm {

class BufferSource {
 public:
  // Takes back a buffer previously leased with this id. Called from the owning thread only.
  virtual void recycle(std::byte* base, std::uint32_t id) noexcept = 0;

 protected:
  ~BufferSource() = default;
};

class PooledBuffer {
 public:
  PooledBuffer() noexcept = default;
  PooledBuffer(BufferSource* source, std::byte* base, std::uint32_t capacity, std::uint32_t id) noexcept
      : source_(source), base_(base), capacity_(capacity), id_(id) {}
  PooledBuffer(PooledBuffer&& other) noexcept { take(other); }
  PooledBuffer& operator=(PooledBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  ~PooledBuffer() { reset(); }

  explicit operator bool() const noexcept { return base_ != nullptr; }

  // The filled part, after any consumed prefix.
  std::byte* data() const noexcept { return base_ + begin_; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return end_ == begin_; }
  ConstBytes bytes() const noexcept { return {data(), size()}; }

  // Whole capacity, for filling: write into writable(), then commit(n).
  std::size_t capacity() const noexcept { return capacity_; }
  MutableBytes writable() const noexcept { return {base_ + end_, capacity_ - end_}; }
  void commit(std::size_t n) noexcept { end_ += static_cast<std::uint32_t>(n); }
  void consume(std::size_t n) noexcept { begin_ += static_cast<std::uint32_t>(n); }
  void clear() noexcept { begin_ = end_ = 0; }
  std::uint32_t id() const noexcept { return id_; }

  // Returns the memory to its source now.
  void reset() noexcept {
    if (base_) std::exchange(source_, nullptr)->recycle(std::exchange(base_, nullptr), id_);
    begin_ = end_ = capacity_ = 0;
  }

 private:
  void take(PooledBuffer& o) noexcept {
    source_ = std::exchange(o.source_, nullptr);
    base_ = std::exchange(o.base_, nullptr);
    begin_ = std::exchange(o.begin_, 0);
    end_ = std::exchange(o.end_, 0);
    capacity_ = std::exchange(o.capacity_, 0);
    id_ = o.id_;
  }

  BufferSource* source_ = nullptr;
  std::byte* base_ = nullptr;
  std::uint32_t begin_ = 0;
  std::uint32_t end_ = 0;
  std::uint32_t capacity_ = 0;
  std::uint32_t id_ = 0;
};

// A free list of equally sized buffers. Single-threaded: one pool per reactor.
//
// acquire() and recycle() run once each per received message on the epoll backend, so their common case is
// inline and allocation-free: the free list is intrusive (a free buffer's first bytes hold the link to the
// next one), a push or a pop of a pointer, with nothing to grow and so nothing that can fail.
class BufferPool final : public BufferSource {
 public:
  // Keeps at most max_cached free buffers; more are freed on return.
  explicit BufferPool(std::size_t buffer_size, std::size_t max_cached = 1024);
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool();

  PooledBuffer acquire() {
    ++leased_;
    std::byte* base = pop_free();
    if (base == nullptr) base = allocate();
    return PooledBuffer(this, base, buffer_size_, 0);
  }
  std::size_t buffer_size() const noexcept { return buffer_size_; }

  struct Stats {
    std::size_t leased = 0;     // buffers currently held by callers
    std::size_t cached = 0;     // free buffers kept for reuse
    std::size_t allocated = 0;  // total allocations over the pool's life
  };
  Stats stats() const noexcept { return {leased_, cached_, allocated_}; }

  void recycle(std::byte* base, std::uint32_t) noexcept override {
    --leased_;
    if (cached_ < max_cached_) {
      free_ = ::new (static_cast<void*>(base)) FreeBuffer{free_};
      ++cached_;
      return;
    }
    deallocate(base);
  }

 private:
  // What a cached buffer holds while it is free (buffers are at least this big and 64-byte aligned).
  struct FreeBuffer {
    FreeBuffer* next;
  };

  std::byte* pop_free() noexcept {
    FreeBuffer* f = free_;
    if (f == nullptr) return nullptr;
    free_ = f->next;
    --cached_;
    return reinterpret_cast<std::byte*>(f);
  }
  std::byte* allocate();  // a new buffer (throws std::bad_alloc)
  void deallocate(std::byte* base) noexcept;

  std::uint32_t buffer_size_;
  std::uint32_t max_cached_;
  FreeBuffer* free_ = nullptr;
  std::size_t cached_ = 0;
  std::size_t leased_ = 0;
  std::size_t allocated_ = 0;
};

}  // namespace rfarm

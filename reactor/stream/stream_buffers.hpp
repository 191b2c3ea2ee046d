// The storage behind a BufferedStream (internal): a read buffer and a write buffer leased from a BufferPool.
//
// Both hold memory only while they hold bytes: an idle stream pins no buffer. The read buffer is one
// contiguous window [begin, end) in a pool buffer; a delimited read that needs more contiguous room than a
// pool buffer has moves to a heap block of the needed size (a rare long line), and goes back to pool buffers
// once that block drains.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "lib/buffer_pool.hpp"
#include "lib/bytes.hpp"

namespace rfarm::detail {

class ReadBuffer {
 public:
  explicit ReadBuffer(BufferPool& pool) noexcept : pool_(&pool) {}
  ReadBuffer(ReadBuffer&&) noexcept = default;
  ReadBuffer& operator=(ReadBuffer&&) noexcept = default;

  ConstBytes data() const noexcept { return {base_ + begin_, end_ - begin_}; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return end_ == begin_; }
  // What one pool buffer holds: the unit reads are sized by.
  std::size_t unit() const noexcept { return pool_->buffer_size(); }

  void consume(std::size_t n) noexcept { begin_ += n; }
  // Copies up to out.size() bytes out and consumes them; returns how many. Gives the storage back when that
  // empties the buffer (no view can point into it: the bytes were copied).
  std::size_t take(MutableBytes out) noexcept;

  // Gives the storage back if nothing is buffered. Invalidates views, so it runs when a read starts.
  void release_if_empty() noexcept;

  // Adopts a buffer received by recv_pooled; only while empty.
  void adopt(PooledBuffer received) noexcept;

  // Room to receive into (never empty): leases a pool buffer if there is none, slides the bytes to the
  // front when the tail runs short, and when the buffer is full moves to a heap block twice its size, but
  // no larger than max_total (the most the current read can need buffered at once).
  MutableBytes space(std::size_t max_total);
  void commit(std::size_t n) noexcept { end_ += n; }
  // Room to receive the rest of a record of `total` bytes that starts at the front of the buffered bytes
  // (a length-prefixed frame whose size is known): a record larger than a pool buffer moves at once to a heap
  // block of exactly `total` bytes (one allocation, and the receive fills it without overshooting); a smaller
  // one is slid to the front of its pool buffer if it would not fit behind.
  MutableBytes space_for(std::size_t total);
  // Whether storage (a pool buffer or a heap block) is held.
  bool holds_storage() const noexcept { return base_ != nullptr; }

  // Offset of the first occurrence of delimiter at or after `from`, or npos.
  std::size_t find(std::string_view delimiter, std::size_t from) const noexcept;

 private:
  void reset_storage() noexcept;

  BufferPool* pool_;
  PooledBuffer lease_;
  std::unique_ptr<std::byte[]> heap_;
  std::byte* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

class WriteBuffer {
 public:
  explicit WriteBuffer(BufferPool& pool) noexcept : pool_(&pool) {}
  WriteBuffer(WriteBuffer&&) noexcept = default;
  WriteBuffer& operator=(WriteBuffer&&) noexcept = default;

  ConstBytes data() const noexcept { return lease_.bytes(); }
  std::size_t size() const noexcept { return lease_.size(); }
  bool empty() const noexcept { return lease_.empty(); }
  std::size_t unit() const noexcept { return pool_->buffer_size(); }
  // Free room without leasing: a whole pool buffer when none is held yet.
  std::size_t room() const noexcept { return lease_ ? lease_.writable().size() : unit(); }

  // Copies as much of data as fits (leasing a buffer if needed); returns how much.
  std::size_t append(ConstBytes data);
  // After the bytes were sent: hands the buffer back to the pool.
  void release() noexcept { lease_.reset(); }

 private:
  BufferPool* pool_;
  PooledBuffer lease_;
};

}  // namespace rfarm::detail

// A provided-buffer ring (io_uring_register_buf_ring, Linux 5.19): the kernel picks a buffer only when data
// arrives, so an idle connection pins no receive memory. A PooledBuffer leased from the ring is backed by ring
// memory; destroying it puts the buffer back into the ring (io_uring_buf_ring_add + advance).
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "lib/buffer_pool.hpp"
#include "lib/error.hpp"

namespace rfarm::detail {

class [[gnu::visibility("hidden")]] ProvidedBufferRing final : public BufferSource {
 public:
  // entries: a power of two up to 32768 (buffer ids are 16 bits).
  static Result<std::unique_ptr<ProvidedBufferRing>> create(io_uring& ring, unsigned entries,
                                                            std::uint32_t buffer_size, std::uint16_t group);
  ProvidedBufferRing(const ProvidedBufferRing&) = delete;
  ProvidedBufferRing& operator=(const ProvidedBufferRing&) = delete;
  ~ProvidedBufferRing();

  // The backend is going away (its ring is closed). Buffers still leased keep their memory: the object frees
  // itself when the last one comes back, so a PooledBuffer that outlives its reactor stays valid.
  static void retire(std::unique_ptr<ProvidedBufferRing> ring) noexcept;

  std::uint16_t group() const noexcept { return group_; }
  std::uint32_t buffer_size() const noexcept { return buffer_size_; }

  // Leases buffer bid, which the kernel filled with length bytes (a CQE with IORING_CQE_F_BUFFER).
  PooledBuffer take(std::uint16_t bid, std::uint32_t length) noexcept;
  void recycle(std::byte* base, std::uint32_t id) noexcept override;

  // True if buffers came back since the last call: multishot receives that ran dry (-ENOBUFS) re-arm then.
  bool consume_returned() noexcept { return std::exchange(returned_, false); }

  std::size_t leased() const noexcept { return leased_; }
  unsigned entries() const noexcept { return entries_; }

 private:
  ProvidedBufferRing(unsigned entries, std::uint32_t buffer_size, std::uint16_t group) noexcept
      : entries_(entries), buffer_size_(buffer_size), group_(group) {}

  unsigned entries_;
  std::uint32_t buffer_size_;
  std::uint16_t group_;
  io_uring_buf_ring* ring_ = nullptr;  // entries_ descriptors shared with the kernel
  std::size_t ring_bytes_ = 0;
  std::byte* memory_ = nullptr;  // entries_ * buffer_size_ bytes, buffer i at i * buffer_size_
  std::size_t memory_bytes_ = 0;
  std::size_t leased_ = 0;
  bool returned_ = false;
  bool retired_ = false;  // the kernel ring is gone: recycle only counts
};

}  // namespace rfarm::detail

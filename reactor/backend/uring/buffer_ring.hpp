// A provided-buffer ring (io_uring_register_buf_ring, Linux 5.19): the kernel picks a buffer only when data
// arrives, so an idle connection pins no receive memory. A PooledBuffer leased from the ring is backed by ring
// memory; destroying it puts the buffer back into the ring (io_uring_buf_ring_add + advance).
//
// The ring starts with a few buffers and doubles them each time it runs dry, up to its entries. The kernel
// takes buffers in ring order and recycled ones go to the tail, so every buffer in the ring gets touched in
// turn: a ring filled at once to 4,096 x 16 KiB put one page of each buffer (16 MiB) into the resident set
// of a server whose 10,000 idle connections had each received one byte. Grown on demand, the ring holds what
// the load in flight needs.
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
  // initial: buffers provided at first (at most entries); grow() adds more.
  static Result<std::unique_ptr<ProvidedBufferRing>> create(io_uring& ring, unsigned entries,
                                                            std::uint32_t buffer_size, std::uint16_t group,
                                                            unsigned initial);
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

  // The ring ran dry (-ENOBUFS): doubles the buffers provided, up to entries(), if every buffer provided so far
  // is leased. Many multishots report -ENOBUFS for one dry spell; the first report grows the ring, the others
  // find buffers free and do not. New buffers count as returned ones, so starved receives re-arm.
  bool grow() noexcept;
  unsigned provided() const noexcept { return provided_; }

  std::size_t leased() const noexcept { return leased_; }
  unsigned entries() const noexcept { return entries_; }

 private:
  ProvidedBufferRing(unsigned entries, std::uint32_t buffer_size, std::uint16_t group) noexcept
      : entries_(entries), buffer_size_(buffer_size), group_(group) {}
  // Adds buffers provided_ .. provided_ + count - 1 to the ring.
  void provide(unsigned count) noexcept;

  unsigned entries_;
  unsigned provided_ = 0;  // buffers 0 .. provided_ - 1 are in the ring or leased; the rest never used
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

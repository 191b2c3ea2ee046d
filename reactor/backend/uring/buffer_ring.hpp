// A provided-buffer ring (io_uring_register_buf_ring, Linux 5.19): the kernel picks a buffer only when data
// arrives, so an idle connection pins no receive memory. A PooledBuffer leased from the ring is backed by ring
// memory; destroying it puts the buffer back into the ring (io_uring_buf_ring_add + advance).
//
// The ring follows the load in flight, both ways. The kernel takes buffers in ring order and recycled ones go
// to the tail, so every buffer in the ring gets touched in turn: a ring filled at once to 4,096 x 16 KiB put
// one page of each buffer (16 MiB) into the resident set of a server whose 10,000 idle connections had each
// received one byte. So the ring starts with a few buffers and doubles them each time it runs dry, up to its
// entries; and once the receives in flight have stayed far below what it holds for a few rounds of the ring,
// it halves again: the buffers above the new size are parked as they come back (out of the ring, their pages
// given back with MADV_DONTNEED) and re-provided first when it grows.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "lib/buffer_pool.hpp"
#include "lib/error.hpp"

namespace rfarm::detail {

class [[gnu::visibility("hidden")]] ProvidedBufferRing final : public BufferSource {
 public:
  // entries: a power of two up to 32768 (buffer ids are 16 bits).
  // initial: buffers provided at first (at most entries), and the size the ring shrinks back to.
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
  PooledBuffer take(std::uint16_t bid, std::uint32_t length) noexcept {
    ++leased_;
    ++taken_in_batch_;
    PooledBuffer b(this, memory_ + static_cast<std::size_t>(bid) * buffer_size_, buffer_size_, bid);
    b.commit(length);
    return b;
  }
  void recycle(std::byte* base, std::uint32_t id) noexcept override;

  // A new batch of completions begins: what the kernel filled in the last one no longer counts as load.
  void start_batch() noexcept {
    taken_in_batch_ = 0;
    grew_in_batch_ = false;
  }

  // Makes the buffers given back since the last call visible to the kernel: one release store of the ring's
  // tail for a whole batch of recycles, not one per message. The backend calls it before it enters the kernel
  // and after each batch of completions; the shrink test runs here too, once per batch.
  void publish() noexcept {
    if (unpublished_ > 0) publish_now();
  }

  // True if buffers came back since the last call: multishot receives that ran dry (-ENOBUFS) re-arm then.
  bool consume_returned() noexcept { return std::exchange(returned_, false); }

  // The ring ran dry (-ENOBUFS): doubles its size, up to entries(), once per batch of completions. Many
  // multishots report -ENOBUFS for one dry spell; the first report of a batch grows the ring, the others do not.
  // (Not "if no buffer is left in it": buffers the kernel filled and whose completions are still to come look
  // free from here, and with every buffer going back at once, as with direct sends, the ring never grew.) New
  // buffers count as returned ones, so starved receives re-arm.
  bool grow() noexcept;
  // True if the kernel has a buffer to pick: every buffer made is in the ring, leased or parked.
  bool has_free() const noexcept { return leased_ + parked_.size() < made_; }

  // The ring's size: buffers in it or leased (parked ones not counted).
  unsigned provided() const noexcept { return active_; }
  std::size_t leased() const noexcept { return leased_; }
  unsigned entries() const noexcept { return entries_; }

 private:
  ProvidedBufferRing(unsigned entries, std::uint32_t buffer_size, std::uint16_t group) noexcept
      : entries_(entries), buffer_size_(buffer_size), group_(group) {}
  // Hands buffer bid to the kernel, not yet visible: publish() makes what was added visible.
  void add(unsigned bid) noexcept;
  void publish_now() noexcept;
  // The ring's size becomes size; returns how many buffers went into the ring for it.
  unsigned grow_to(unsigned size) noexcept;
  // Halves the ring if the receives in flight stayed light for a few rounds of it (called for each batch of
  // recycles, with how many there were).
  void maybe_shrink(unsigned recycles) noexcept;
  // Out of the ring for good until the next grow(); its pages go back to the system.
  void park(std::byte* base, std::uint16_t id) noexcept;
  // recycle() of a buffer of a retired ring, or of one above the ring's size.
  [[gnu::cold, gnu::noinline]] void recycle_rare(std::byte* base, std::uint32_t id) noexcept;

  unsigned entries_;
  unsigned made_ = 0;      // buffers 0 .. made_ - 1 have been provided at least once; the rest never used
  unsigned active_ = 0;    // the ring's size: buffers with an id below it go back into the ring when recycled
  unsigned floor_ = 1;     // the size it shrinks back to (create's initial)
  unsigned light_recycles_ = 0;  // recycles in a row with few buffers leased (maybe_shrink)
  unsigned unpublished_ = 0;     // buffers added to the ring since the last publish()
  unsigned recycled_ = 0;        // ... of them, recycled ones (the shrink test counts them)
  // Buffers taken from the kernel in this batch of completions. What the owners hold (leased_) misses a load
  // whose buffers go back at once (direct sends): the kernel still fills a buffer per connection per turn.
  unsigned taken_in_batch_ = 0;
  bool grew_in_batch_ = false;
  // Rounds of the ring's size in light recycles before it halves. A shrink that the next grow proves wrong (the
  // halved ring ran dry, every multishot ended and re-armed) doubles it, so a load the light test misreads
  // cannot make the ring halve and grow over and over.
  unsigned shrink_patience_ = kInitialShrinkPatience;
  bool shrunk_last_ = false;  // the last change of size was a shrink
  static constexpr unsigned kInitialShrinkPatience = 4;
  static constexpr unsigned kMaxShrinkPatience = 1024;
  std::uint32_t buffer_size_;
  std::uint16_t group_;
  io_uring_buf_ring* ring_ = nullptr;  // entries_ descriptors shared with the kernel
  std::size_t ring_bytes_ = 0;
  std::byte* memory_ = nullptr;  // entries_ * buffer_size_ bytes, buffer i at i * buffer_size_
  std::size_t memory_bytes_ = 0;
  std::size_t leased_ = 0;
  std::vector<std::uint16_t> parked_;  // ids >= active_ that came back (made_ - active_ at most)
  bool returned_ = false;
  bool retired_ = false;  // the kernel ring is gone: recycle only counts
};

}  // namespace rfarm::detail

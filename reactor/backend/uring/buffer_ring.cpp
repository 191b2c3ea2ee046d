#include "reactor/backend/uring/buffer_ring.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>
#include <utility>

namespace rfarm::detail {

namespace {

std::size_t round_to_pages(std::size_t n) noexcept {
  auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

void* map_anonymous(std::size_t bytes) noexcept {
  // MAP_NORESERVE: a buffer costs memory only once the kernel has received into it.
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

}  // namespace

Result<std::unique_ptr<ProvidedBufferRing>> ProvidedBufferRing::create(io_uring& ring, unsigned entries,
                                                                       std::uint32_t buffer_size,
                                                                       std::uint16_t group, unsigned initial) {
  if (entries == 0 || entries > 32768 || (entries & (entries - 1)) != 0 || buffer_size == 0)
    return fail(std::make_error_code(std::errc::invalid_argument));
  std::unique_ptr<ProvidedBufferRing> self(new (std::nothrow) ProvidedBufferRing(entries, buffer_size, group));
  if (!self) return fail(std::make_error_code(std::errc::not_enough_memory));

  // liburing 2.3 has no io_uring_setup_buf_ring: map the descriptor ring ourselves (page aligned, as the
  // kernel pins it) and register it.
  self->ring_bytes_ = round_to_pages(entries * sizeof(io_uring_buf));
  self->ring_ = static_cast<io_uring_buf_ring*>(map_anonymous(self->ring_bytes_));
  self->memory_bytes_ = static_cast<std::size_t>(entries) * buffer_size;
  self->memory_ = static_cast<std::byte*>(map_anonymous(self->memory_bytes_));
  if (!self->ring_ || !self->memory_) return fail(std::make_error_code(std::errc::not_enough_memory));
  try {
    self->parked_.reserve(entries);  // park() runs in recycle(), which must not allocate
  } catch (const std::bad_alloc&) {
    return fail(std::make_error_code(std::errc::not_enough_memory));
  }

  io_uring_buf_ring_init(self->ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(self->ring_);
  reg.ring_entries = entries;
  reg.bgid = group;
  if (int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0) return fail(errno_code(-r));

  self->floor_ = std::clamp(initial, 1u, entries);
  self->grow_to(self->floor_);
  return self;
}

void ProvidedBufferRing::add(unsigned bid) noexcept {
  io_uring_buf_ring_add(ring_, memory_ + static_cast<std::size_t>(bid) * buffer_size_, buffer_size_,
                        static_cast<unsigned short>(bid), io_uring_buf_ring_mask(entries_),
                        static_cast<int>(unpublished_++));
}

void ProvidedBufferRing::publish_now() noexcept {
  io_uring_buf_ring_advance(ring_, static_cast<int>(unpublished_));
  unpublished_ = 0;
  if (recycled_ > 0) maybe_shrink(std::exchange(recycled_, 0));
}

// Buffers below size go (back) into the ring: parked ones first, then ones never used. Those leased or still
// in the ring stay where they are; a leased one below size goes back into the ring when it is recycled.
unsigned ProvidedBufferRing::grow_to(unsigned size) noexcept {
  unsigned added = 0;
  for (std::size_t i = 0; i < parked_.size();) {
    if (parked_[i] < size) {
      add(parked_[i]);
      ++added;
      parked_[i] = parked_.back();
      parked_.pop_back();
    } else {
      ++i;
    }
  }
  for (; made_ < size; ++made_, ++added) add(made_);
  active_ = size;
  recycled_ = 0;  // recycles before a grow say nothing about the load after it
  publish();
  light_recycles_ = 0;
  return added;
}

bool ProvidedBufferRing::grow() noexcept {
  if (retired_ || grew_in_batch_ || active_ == entries_) return false;
  grew_in_batch_ = true;
  if (grow_to(std::min(2 * active_, entries_)) == 0) return false;  // every buffer of the new size is leased
  if (std::exchange(shrunk_last_, false)) shrink_patience_ = std::min(2 * shrink_patience_, kMaxShrinkPatience);
  returned_ = true;
  return true;
}

// "Light": at most an eighth of the ring leased, and at most an eighth taken in this batch of completions, when a
// batch of recycles is published. After shrink_patience_ (first four) rounds of the ring's size in recycles, all
// light, the ring halves (not below its initial size). The hysteresis keeps a load that swings
// from turn to turn from parking and re-providing buffers over and over; the patience grows for a load that the
// halved ring could not serve (buffer_ring.hpp).
void ProvidedBufferRing::maybe_shrink(unsigned recycles) noexcept {
  if (active_ <= floor_ || leased_ > active_ / 8 || taken_in_batch_ > active_ / 8) {
    light_recycles_ = 0;
    return;
  }
  light_recycles_ += recycles;
  if (light_recycles_ < shrink_patience_ * active_) return;
  active_ = std::max(active_ / 2, floor_);
  light_recycles_ = 0;
  shrunk_last_ = true;
}

void ProvidedBufferRing::park(std::byte* base, std::uint16_t id) noexcept {
  // Not in the ring, not leased: nobody, the kernel included, can write it until grow_to() provides it again.
  ::madvise(base, buffer_size_, MADV_DONTNEED);
  parked_.push_back(id);
}

ProvidedBufferRing::~ProvidedBufferRing() {
  if (memory_) ::munmap(memory_, memory_bytes_);
  if (ring_) ::munmap(ring_, ring_bytes_);
}

void ProvidedBufferRing::retire(std::unique_ptr<ProvidedBufferRing> ring) noexcept {
  if (!ring) return;
  ring->retired_ = true;
  if (ring->leased_ > 0) ring.release();  // freed by the last recycle()
}

// Every received message comes back here: a leaf with the rare cases out of line, so it saves no registers.
void ProvidedBufferRing::recycle(std::byte* base, std::uint32_t id) noexcept {
  --leased_;
  if (retired_ || id >= active_) [[unlikely]] {
    recycle_rare(base, id);
    return;
  }
  add(id);  // visible to the kernel at the next publish()
  ++recycled_;
  returned_ = true;
}

void ProvidedBufferRing::recycle_rare(std::byte* base, std::uint32_t id) noexcept {
  if (retired_) {
    if (leased_ == 0) delete this;
    return;
  }
  park(base, static_cast<std::uint16_t>(id));  // above the shrunk ring's size
}

}  // namespace rfarm::detail

#include "reactor/backend/uring/buffer_ring.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>

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

  io_uring_buf_ring_init(self->ring_);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<std::uint64_t>(self->ring_);
  reg.ring_entries = entries;
  reg.bgid = group;
  if (int r = io_uring_register_buf_ring(&ring, &reg, 0); r < 0) return fail(errno_code(-r));

  self->provide(std::clamp(initial, 1u, entries));
  return self;
}

void ProvidedBufferRing::provide(unsigned count) noexcept {
  const int mask = io_uring_buf_ring_mask(entries_);
  for (unsigned i = 0; i < count; ++i) {
    const unsigned bid = provided_ + i;
    io_uring_buf_ring_add(ring_, memory_ + static_cast<std::size_t>(bid) * buffer_size_, buffer_size_,
                          static_cast<unsigned short>(bid), mask, static_cast<int>(i));
  }
  io_uring_buf_ring_advance(ring_, static_cast<int>(count));
  provided_ += count;
}

bool ProvidedBufferRing::grow() noexcept {
  if (retired_ || provided_ == entries_ || leased_ < provided_) return false;
  provide(std::min(provided_, entries_ - provided_));
  returned_ = true;
  return true;
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

PooledBuffer ProvidedBufferRing::take(std::uint16_t bid, std::uint32_t length) noexcept {
  ++leased_;
  PooledBuffer b(this, memory_ + static_cast<std::size_t>(bid) * buffer_size_, buffer_size_, bid);
  b.commit(length);
  return b;
}

void ProvidedBufferRing::recycle(std::byte* base, std::uint32_t id) noexcept {
  --leased_;
  if (retired_) {
    if (leased_ == 0) delete this;
    return;
  }
  io_uring_buf_ring_add(ring_, base, buffer_size_, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(entries_), 0);
  io_uring_buf_ring_advance(ring_, 1);
  returned_ = true;
}

}  // namespace rfarm::detail

// In-flight io_uring requests. A CQE's user_data names a slot of this table (with a generation), never an
// IoOp or IoHandle: an op may be abandoned and a handle freed while the kernel still holds their requests,
// and the CQE that comes later must find backend-owned memory that says "nobody waits for this any more".
// A slot is freed only by its request's last CQE, so a slot is never reused while the kernel knows it. (A
// handle's multishot names its HandleState instead, uring_backend.hpp: an idle connection holds no slot.)
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "reactor/backend/detail/io_op.hpp"

namespace rfarm::detail {

struct HandleState;
struct Watcher;
class UringBackend;

inline constexpr std::uint32_t kNoSlot = 0xffffffffu;

// user_data values that are not slots (their low half is kNoSlot).
inline constexpr std::uint64_t kIgnoredData = kNoSlot;                            // cancels: result unused
inline constexpr std::uint64_t kWakeData = (std::uint64_t{1} << 32) | kNoSlot;   // the wake eventfd's read
inline constexpr std::uint64_t kPeerWakeData = (std::uint64_t{2} << 32) | kNoSlot;  // a peer's MSG_RING wake

enum class RequestKind : std::uint8_t {
  lane_op,           // one IoOp in the kernel (recv, send, accept, connect, poll); occupies its lane
  watch,             // a one-shot POLL_ADD for a Watcher, re-armed after each notification
  release_file,      // FILES_UPDATE clearing a registered-file slot at close
  peer_wake,         // MSG_RING waking another reactor's ring (Backend::wake_peer)
};

struct Request {
  RequestKind kind = RequestKind::lane_op;
  Direction direction = Direction::read;
  bool detached = false;      // its op / watcher / handle no longer waits: the CQE is only bookkeeping
  bool cancel_sent = false;   // an ASYNC_CANCEL for it was queued
  bool neutralized = false;   // turned into a NOP before the kernel saw it
  bool user_memory = false;   // the kernel reads or writes caller memory (buffers, msghdr, sockaddr)
  bool ring_buffer = false;   // a receive into a buffer the kernel picks from the provided-buffer ring
  bool readiness = false;     // a receive's POLL_ADD: the receive itself runs at its completion, as on epoll
  std::uint32_t generation = 0;
  std::uint32_t next_free = kNoSlot;
  IoOp* op = nullptr;
  HandleState* handle = nullptr;
  Watcher* watcher = nullptr;
  io_uring_sqe* sqe = nullptr;     // valid while submit_epoch == the backend's epoch (not yet submitted)
  std::uint64_t submit_epoch = 0;
  std::int32_t file_slot = -1;     // release_file: the registered-file slot to reuse afterwards
  UringBackend* peer = nullptr;    // peer_wake: the backend to wake through its eventfd if MSG_RING fails
};

class RequestTable {
 public:
  // A fresh slot, or kNoSlot when memory runs out.
  std::uint32_t acquire() noexcept {
    if (free_ == kNoSlot) {
      if (size_ % kChunk == 0) {
        try {
          chunks_.push_back(std::make_unique<Request[]>(kChunk));
        } catch (...) {
          return kNoSlot;
        }
      }
      ++in_use_;
      return size_++;
    }
    std::uint32_t slot = free_;
    free_ = (*this)[slot].next_free;
    ++in_use_;
    return slot;
  }

  void release(std::uint32_t slot) noexcept {
    Request& r = (*this)[slot];
    // Field by field: assigning a Request{} temporary built it on the stack and copied it back, a
    // store-forwarding stall that showed in the echo profile.
    r.kind = RequestKind::lane_op;
    r.detached = r.cancel_sent = r.neutralized = r.user_memory = r.ring_buffer = r.readiness = false;
    ++r.generation;
    r.op = nullptr;
    r.handle = nullptr;
    r.watcher = nullptr;
    r.sqe = nullptr;
    r.file_slot = -1;
    r.peer = nullptr;
    r.next_free = free_;
    free_ = slot;
    --in_use_;
  }

  // Chunks of a power-of-two size: indexing is a shift and a mask, and references stay valid while the
  // table grows.
  Request& operator[](std::uint32_t slot) noexcept { return chunks_[slot / kChunk][slot % kChunk]; }

  // The generation's low 31 bits: the top bit of user_data marks a handle's multishot (uring_backend.hpp).
  std::uint64_t user_data(std::uint32_t slot) noexcept {
    return (std::uint64_t{(*this)[slot].generation & kGenerationMask} << 32) | slot;
  }

  // The slot user_data names, or kNoSlot for a special value or a stale one.
  std::uint32_t lookup(std::uint64_t user_data) noexcept {
    auto slot = static_cast<std::uint32_t>(user_data);
    if (slot >= size_) return kNoSlot;
    if (((*this)[slot].generation & kGenerationMask) != static_cast<std::uint32_t>(user_data >> 32)) return kNoSlot;
    return slot;
  }

  std::size_t in_use() const noexcept { return in_use_; }

 private:
  static constexpr std::uint32_t kChunk = 256;
  static constexpr std::uint32_t kGenerationMask = 0x7fffffffu;
  std::vector<std::unique_ptr<Request[]>> chunks_;
  std::uint32_t size_ = 0;
  std::uint32_t free_ = kNoSlot;
  std::size_t in_use_ = 0;
};

}  // namespace rfarm::detail

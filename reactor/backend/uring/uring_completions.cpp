// Routing CQEs. Every CQE names a request slot, whose request says who (if anyone) still waits for it, or a
// handle's state (its multishot: kHandleTag). A
// completion may close handles, abandon ops and start new ones: nothing here holds a reference into the
// request table or an IoHandle across a callback.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "reactor/backend/uring/uring_backend.hpp"

namespace rfarm::detail {

namespace {

// A handle buffers at most this many arrivals while nobody receives; then its multishot is stopped until the
// reader catches up (the socket's own buffer and TCP flow control take over).
constexpr std::size_t kMaxBufferedReceives = 8;
constexpr std::size_t kMaxBufferedAccepts = 64;

constexpr unsigned kBatch = 256;

// Copies a ring buffer's bytes into a receive's buffers (they fit: the request asked for at most their size).
void copy_into(const msghdr& msg, ConstBytes from) noexcept {
  for (std::size_t i = 0; i < msg.msg_iovlen && !from.empty(); ++i) {
    const std::size_t n = std::min(from.size(), msg.msg_iov[i].iov_len);
    std::memcpy(msg.msg_iov[i].iov_base, from.data(), n);
    from = from.subspan(n);
  }
}

// The receive a readiness completion was waiting for, done now without blocking; the kernel-style result.
int receive_now(const HandleState& hs, MsgOp& op) noexcept {
  ssize_t n;
  do n = ::recvmsg(hs.fd(), &op.msg, op.msg_flags | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : static_cast<int>(n);
}

}  // namespace

std::size_t UringBackend::drain_completions() noexcept {
  struct Copy {
    std::uint64_t user_data;
    int res;
    std::uint32_t flags;
  };
  io_uring_cqe* cqes[kBatch];
  Copy batch[kBatch];
  std::size_t handled = 0;
  if (buffers_) buffers_->start_batch();  // the ring measures its load per batch (buffer_ring.hpp)
  // Copy a batch out and release the CQ slots before running callbacks: they may submit, and inline
  // completions need room. Bounded rounds, so completions that keep completing cannot starve the loop.
  for (int round = 0; round < 16; ++round) {
    unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kBatch);
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) batch[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(&ring_, n);
    for (unsigned i = 0; i < n; ++i) on_completion(batch[i].user_data, batch[i].res, batch[i].flags);
    handled += n;
  }
  // The batch's callbacks gave buffers back: visible now, as the kernel may receive into the ring before this
  // thread enters it again (task work without DEFER_TASKRUN).
  if (buffers_) buffers_->publish();
  return handled;
}

void UringBackend::on_completion(std::uint64_t user_data, int res, std::uint32_t flags) noexcept {
  if (user_data & kHandleTag) {  // first: a multishot's data is the most common CQE
    on_multishot_completion(*reinterpret_cast<HandleState*>(user_data & ~kHandleTag), res, flags);
    return;
  }
  if (user_data == kIgnoredData) return;
  if (user_data == kWakeData) {
    on_wake_completion(res);
    return;
  }
  if (user_data == kPeerWakeData) return;  // another reactor woke us: the wait it ended was the point
  const std::uint32_t slot = requests_.lookup(user_data);
  if (slot == kNoSlot) return;  // cannot happen while slots live until their last CQE; kept as a guard
  switch (requests_[slot].kind) {
    case RequestKind::lane_op: on_lane_completion(slot, res, flags); return;
    case RequestKind::watch: on_watch_completion(slot, res); return;
    case RequestKind::peer_wake: {
      UringBackend* peer = requests_[slot].peer;
      release_request(slot);
      // Not delivered (the peer's ring overflowed, or closed): its eventfd still wakes it. A kernel without
      // MSG_RING (before 5.18) says EINVAL: stop trying.
      if (res < 0) {
        peer->wake();
        if (res == -EINVAL || res == -EOPNOTSUPP) peer_wake_unsupported_ = true;
      }
      return;
    }
    case RequestKind::release_file: {
      const std::int32_t file_slot = requests_[slot].file_slot;
      release_request(slot);
      if (res >= 0 ||
          io_uring_register_files_update(&ring_, static_cast<unsigned>(file_slot), &no_file_, 1) == 1)
        free_file_slots_.push_back(file_slot);
      return;
    }
  }
}

void UringBackend::release_request(std::uint32_t slot) noexcept {
  HandleState* hs = requests_[slot].handle;
  requests_.release(slot);
  if (hs) unref(*hs);
}

void UringBackend::on_lane_completion(std::uint32_t slot, int res, std::uint32_t flags) noexcept {
  Request& r = requests_[slot];
  HandleState& hs = *r.handle;
  HandleRef keep(*this, hs);
  const Direction d = r.direction;
  IoOp* op = r.detached ? nullptr : r.op;
  const bool ring_buffer = r.ring_buffer;
  const bool readiness = r.readiness;
  PooledBuffer data;  // a ring buffer's bytes (recycled into the ring if nobody keeps them)
  if (flags & IORING_CQE_F_BUFFER)
    data = buffers_->take(static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT), res > 0 ? res : 0);
  Lane lane = hs.lane(d);
  if (lane.request == slot) lane.request = kNoSlot;
  release_request(slot);
  if (!hs.handle) return;  // closed: its ops were completed with -ECANCELED already
  if (!op && res > 0 && data) {
    // A receive given up (abandoned or cancelled) while its bytes came: they are the next receive's, first.
    // The lane kept this request, so nothing queued behind it has run yet.
    hs.arrivals.push_back({res, std::move(data)});
  }
  if (op && ring_buffer && res == -ENOBUFS) {
    // The ring was dry when the bytes came (they wait in the socket). Grown if it can be; otherwise this one
    // receive goes into the caller's buffer, as before the ring was used for it.
    buffers_->grow();
    const bool ring_has_room = buffers_->has_free();
    res = issue(hs, *op, ring_has_room);
    if (res == 0) return;  // still the lane head, its request in flight again
  }
  if (op && readiness && res >= 0) {
    // Readable (or in error, or hung up: the receive reports which). Nobody else reads this socket, but a
    // readiness can still be stale (a peek by the caller, a spurious wake-up): then wait again.
    res = receive_now(hs, as_msg(*op));
    if (res == -EAGAIN) {
      res = issue(hs, *op, buffers_->has_free());
      if (res == 0) return;  // still the lane head, waiting again
    }
  }
  if (op) {
    int result = res;
    switch (op->kind) {
      case OpKind::wait_readable:
      case OpKind::wait_writable:
      case OpKind::wait_urgent:
        if (res > 0) result = 0;  // the revents mask: ready (POLLERR / POLLHUP count as ready)
        break;
      case OpKind::send:
      case OpKind::send_stream:
      case OpKind::send_pooled:
        if (res >= 0) hs.send_would_block = hs.handle->stream && static_cast<std::size_t>(res) < send_length(*op);
        break;
      case OpKind::recv:
        if (ring_buffer && res > 0) copy_into(as_msg(*op).msg, data.bytes());
        break;
      default: break;
    }
    lane.head = nullptr;
    complete(*op, result);
    if (!hs.handle) return;
  }
  advance_lane(hs, d);
}

void UringBackend::on_multishot_completion(HandleState& hs, int res, std::uint32_t flags) noexcept {
  // The common case first: bytes for a receive waiting at the head of the read lane with nothing before them,
  // from a multishot that goes on. A lane head means the handle is open (close() takes the heads away).
  constexpr std::uint32_t kDataAndMore = IORING_CQE_F_BUFFER | IORING_CQE_F_MORE;
  IoOp* head = hs.heads[static_cast<int>(Direction::read)];
  if (res > 0 && (flags & kDataAndMore) == kDataAndMore && head && is_pooled_receive(head->kind) &&
      hs.requests[static_cast<int>(Direction::read)] == kNoSlot && hs.arrivals.empty()) [[likely]] {
    as_pooled(*head).leased = buffers_->take(static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT), res);
    hand_to_head(hs, *head, res, /*last_cqe=*/false);  // hs outlives the callback: the multishot holds it
    return;
  }
  on_multishot_event(hs, res, flags);
}

// The bytes (already in head's buffer) go to the receive waiting at the head of the read lane. A standing
// receive stays the head, armed; after the multishot's last CQE the head re-arms it. A one-shot receive leaves
// the head and the lane moves on. The caller keeps hs alive across the callback.
void UringBackend::hand_to_head(HandleState& hs, IoOp& head, int res, bool last_cqe) noexcept {
  if (head.kind == OpKind::recv_pooled_standing) {
    head.result = res;
    head.complete(head);
    if (last_cqe && hs.handle && !hs.multishot_in_kernel()) serve_head(hs, Direction::read);
    return;
  }
  hs.heads[static_cast<int>(Direction::read)] = nullptr;
  complete(head, res);
  if (hs.handle) advance_lane(hs, Direction::read);
}

// Everything else a multishot reports: an accepted descriptor, bytes nobody waits for, the end of the stream,
// an error, a dry buffer ring, its last CQE.
void UringBackend::on_multishot_event(HandleState& hs, int res, std::uint32_t flags) noexcept {
  HandleRef keep(*this, hs);
  const bool accepts = hs.multishot_accepts;
  PooledBuffer data;  // recycled into the ring if nobody keeps it
  if (flags & IORING_CQE_F_BUFFER)
    data = buffers_->take(static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT), res > 0 ? res : 0);
  if ((flags & IORING_CQE_F_MORE) == 0) {  // the multishot's last CQE: it lets go of hs
    hs.multishot = MultishotState::none;
    hs.multishot_cancel_sent = false;
    unref(hs);
  }
  if (!hs.handle) {
    if (accepts && res >= 0) ::close(res);  // accepted after the listener closed
    return;
  }
  if (accepts) {
    if (res >= 0) {
      hs.arrivals.push_back({res, PooledBuffer{}});
    } else if (res != -ECANCELED) {
      hs.terminal = static_cast<std::int16_t>(res);  // EMFILE / ENFILE end the multishot; the next accept re-arms it
    }
  } else if (res > 0) {
    Lane lane = hs.lane(Direction::read);
    if (hs.arrivals.empty() && lane.head && is_pooled_receive(lane.head->kind) && lane.request == kNoSlot) {
      // A receive is waiting and nothing is queued before this data (the multishot's last CQE, or one that
      // the fast path above left here): hand it over directly.
      as_pooled(*lane.head).leased = std::move(data);
      hand_to_head(hs, *lane.head, res, (flags & IORING_CQE_F_MORE) == 0);  // keep holds hs
      return;
    }
    hs.arrivals.push_back({res, std::move(data)});
  } else if (res == 0) {
    hs.terminal = 0;
  } else if (res == -ENOBUFS) {
    // The ring ran dry; the data waits in the socket. Re-armed when buffers come back (rearm_starved), at
    // once if the ring could grow.
    buffers_->grow();
    if ((flags & IORING_CQE_F_MORE) == 0 && hs.multishot == MultishotState::none) {
      hs.multishot = MultishotState::starved;
      if (!hs.starved_listed) {
        hs.starved_listed = true;
        ref(hs);
        starved_.push_back(&hs);
      }
    }
  } else if (res != -ECANCELED) {
    hs.terminal = static_cast<std::int16_t>(res);
  }
  const std::size_t bound = accepts ? kMaxBufferedAccepts : kMaxBufferedReceives;
  if (hs.arrivals.size() >= bound) stop_multishot(hs);
  serve_head(hs, Direction::read);
}

void UringBackend::on_watch_completion(std::uint32_t slot, int res) noexcept {
  Request& r = requests_[slot];
  Watcher* w = r.detached ? nullptr : r.watcher;
  release_request(slot);
  if (!w) return;
  w->backend_token = 0;
  if (res < 0 && res != -ECANCELED) {
    // The descriptor went away under the watch (closed without remove_watch); epoll would drop it silently.
    context_.log.debug("io_uring: watch on fd {} ended: {}", w->fd, errno_code(-res).message());
    w->active = false;
    return;
  }
  // Level-triggered: the next poll is armed before the callback (which may remove or change the watch) and
  // completes at once in the next wait while the descriptor stays ready.
  if (!arm_watch(*w)) context_.log.error("io_uring: cannot re-arm the watch on fd {}", w->fd);
  // POLLRDBAND was only added to catch urgent-data wake-ups (arm_watch): report what was asked for.
  const auto revents = static_cast<std::uint32_t>(res) & (w->events | POLLERR | POLLHUP | POLLNVAL);
  if (res > 0) w->notify(*w, revents != 0 ? revents : static_cast<std::uint32_t>(res));
}

void UringBackend::on_wake_completion(int res) noexcept {
  if (res < 0 && res != -ECANCELED && res != -EINTR)
    context_.log.error("io_uring: wake eventfd read failed: {}", errno_code(-res).message());
  if (std::error_code ec = arm_wake()) context_.log.error("io_uring: cannot re-arm the wake read: {}", ec.message());
}

}  // namespace rfarm::detail

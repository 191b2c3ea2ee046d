// start() and the per-handle lanes: which op a lane serves next, and the results known without the kernel
// (data already received by the multishot, a send that the socket took at once).
#include <sys/socket.h>

#include <cstring>
#include <new>

#include "reactor/backend/uring/uring_backend.hpp"

namespace rfarm::detail {

namespace {

// send(2) or sendmsg(2) of a send / send_stream op without waiting: the bytes taken, or -errno.
long send_without_waiting(int fd, IoOp& op) noexcept {
  if (op.kind == OpKind::send_stream) {
    StreamSendOp& s = as_stream_send(op);
    return ::send(fd, s.data, s.size, s.flags | MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  if (op.kind == OpKind::send_pooled) {
    const PooledBuffer& b = as_pooled(op).leased;
    return ::send(fd, b.data(), b.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  MsgOp& m = as_msg(op);
  return ::sendmsg(fd, &m.msg, m.msg_flags | MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

bool UringBackend::start(IoOp& op) noexcept {
  IoHandle& h = *op.handle;
  HandleState* hs = state_of(h);
  if (!hs) {
    op.result = -ENOMEM;
    return true;
  }
  const Direction d = direction_of(op.kind);
  Lane lane = hs->lane(d);
  // An op restarted from its own completion (SendAll's next chunk) keeps the head of its lane: the ops queued
  // behind it must not overtake the rest of its bytes.
  const bool keeps_place = &op == restarting_;
  op.backend = this;
  if (!lane.idle() || (!keeps_place && h.has_queued(d))) {
    op.pending = true;
    op.backend_state = kQueued;
    h.queued.push_back(op);
    return false;
  }
  if (try_now(*hs, op)) {
    op.backend_state = kNowhere;
    return true;
  }
  lane.head = &op;
  op.pending = true;
  op.backend_state = kLaneHead;
  if (engage(*hs, op)) return false;
  lane.head = nullptr;
  op.pending = false;
  op.backend_state = kNowhere;
  return true;
}

HandleState* UringBackend::state_of(IoHandle& h) noexcept {
  if (h.backend_data) return static_cast<HandleState*>(h.backend_data);
  HandleState* hs = handles_.acquire();
  if (!hs) return nullptr;
  hs->handle = &h;
  h.backend_data = hs;
  if (owned_ring_->fixed_files > 0) {
    std::int32_t slot = -1;
    if (!free_file_slots_.empty()) {
      slot = free_file_slots_.back();
      free_file_slots_.pop_back();
    } else if (static_cast<unsigned>(next_file_slot_) < owned_ring_->fixed_files) {
      slot = next_file_slot_++;
    }
    if (slot >= 0) {
      int fd = h.fd;
      if (io_uring_register_files_update(&ring_, static_cast<unsigned>(slot), &fd, 1) == 1) {
        hs->file_slot = slot;
      } else {
        free_file_slots_.push_back(slot);
      }
    }
  }
  return hs;
}

void UringBackend::free_state(HandleState& hs) noexcept { handles_.release(hs); }

// The result of op if it is known without the kernel; true with op.result set.
bool UringBackend::try_now(HandleState& hs, IoOp& op) noexcept {
  switch (op.kind) {
    case OpKind::recv_pooled:
    case OpKind::recv_pooled_standing:
    case OpKind::accept:
      if (!hs.arrivals.empty()) {
        Arrival& a = hs.arrivals.front();
        op.result = a.result;
        if (op.kind != OpKind::accept) as_pooled(op).leased = std::move(a.data);
        hs.arrivals.pop_front();
        return true;
      }
      if (hs.terminal != kNoTerminal) {
        op.result = take_terminal(hs);
        return true;
      }
      return false;
    case OpKind::recv:
      if (as_msg(op).msg_flags & MSG_OOB) return false;  // urgent data never went through the multishot
      if (!hs.arrivals.empty()) {
        op.result = copy_out(hs, as_msg(op));
        return true;
      }
      if (hs.terminal != kNoTerminal) {
        op.result = take_terminal(hs);
        return true;
      }
      return false;
    case OpKind::wait_readable:
      if (hs.arrivals.empty() && hs.terminal == kNoTerminal) return false;
      op.result = 0;
      return true;
    case OpKind::send:
    case OpKind::send_stream:
    case OpKind::send_pooled: {
      if (!tuning_.direct_send || hs.send_would_block) return false;
      int r = send_now(hs, op);
      if (r == -EAGAIN) return false;
      op.result = r;
      return true;
    }
    default: return false;
  }
}

int UringBackend::take_terminal(HandleState& hs) noexcept {
  int t = hs.terminal;
  if (t < 0) hs.terminal = kNoTerminal;  // an error is reported once; end of stream stays
  return t;
}

// A plain recv on a handle whose multishot already holds data: copy it out, as recvmsg would have.
int UringBackend::copy_out(HandleState& hs, MsgOp& op) noexcept {
  const bool peek = (op.msg_flags & MSG_PEEK) != 0;
  const bool stream = hs.handle->stream;
  std::size_t copied = 0;
  std::size_t iov_index = 0;
  std::size_t iov_offset = 0;
  std::size_t arrival = 0;
  std::size_t used = 0;  // bytes of the current arrival already copied (MSG_PEEK leaves them in place)
  op.msg.msg_namelen = 0;
  op.msg.msg_controllen = 0;
  op.msg.msg_flags = 0;
  while (arrival < hs.arrivals.size() && iov_index < op.msg.msg_iovlen) {
    PooledBuffer& b = hs.arrivals[arrival].data;
    const iovec& v = op.msg.msg_iov[iov_index];
    std::size_t n = std::min(b.size() - used, v.iov_len - iov_offset);
    if (n > 0) std::memcpy(static_cast<std::byte*>(v.iov_base) + iov_offset, b.data() + used, n);
    copied += n;
    iov_offset += n;
    if (peek) {
      used += n;
    } else {
      b.consume(n);
    }
    if (iov_offset == v.iov_len) {
      ++iov_index;
      iov_offset = 0;
    }
    if (b.size() == used) {  // this arrival is used up
      used = 0;
      if (peek) {
        ++arrival;
      } else {
        hs.arrivals.pop_front();
      }
      if (!stream) break;  // one datagram per receive
    } else if (!stream && iov_index == op.msg.msg_iovlen) {
      op.msg.msg_flags |= MSG_TRUNC;  // the rest of the datagram is discarded, as recvmsg does
      if (!peek) hs.arrivals.pop_front();
      break;
    }
  }
  return static_cast<int>(copied);
}

int UringBackend::send_now(HandleState& hs, IoOp& op) noexcept {
  long r;
  do r = send_without_waiting(hs.fd(), op);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) hs.send_would_block = true;
    return -errno;
  }
  // A short send means the socket buffer is full: the next send waits for room in the kernel (POLL_FIRST).
  if (hs.handle->stream && static_cast<std::size_t>(r) < send_length(op)) hs.send_would_block = true;
  return static_cast<int>(r);
}

// Declined with the no-direct-send tuning, where every send is a batched SEND SQE (README.md, "Tuning switches":
// a tie in CPU time here, 3.5x the user instructions); the caller then queues an operation.
// send_would_block is not consulted: only a send request's completion clears it, and a connection that sends
// only directly has none. It is set here as a hint for the next SEND SQE (POLL_FIRST).
int UringBackend::try_send(IoHandle& h, const std::byte* data, std::size_t size) noexcept {
  if (!tuning_.direct_send) return -EAGAIN;
  HandleState* hs = state_of(h);
  if (!hs || !hs->lane(Direction::write).idle() || h.has_queued(Direction::write)) return -EAGAIN;
  long r;
  do r = ::send(hs->fd(), data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) hs->send_would_block = true;
    return -errno;
  }
  if (h.stream && static_cast<std::size_t>(r) < size) hs->send_would_block = true;
  return static_cast<int>(r);
}

// Makes the lane head wait for its result: arms the handle's multishot or issues its own request. False
// (with op.result set) when that failed at once.
bool UringBackend::engage(HandleState& hs, IoOp& op) noexcept {
  bool accepts;
  if (is_pooled_receive(op.kind)) {
    accepts = false;
  } else if (op.kind == OpKind::accept && tuning_.multishot_accept && as_msg(op).msg.msg_name == nullptr) {
    // A multishot accept cannot report each peer's address into the op: only address-less accepts use it.
    accepts = true;
  } else {
    // Data must not go to two places: a plain recv waits until the multishot has stopped (what it received
    // meanwhile lands in arrivals and is copied out first, in order).
    if (op.kind == OpKind::recv && (as_msg(op).msg_flags & MSG_OOB) == 0 && hs.multishot != MultishotState::none) {
      stop_multishot(hs);
      return true;
    }
    if (int r = issue(hs, op); r < 0) {
      op.result = r;
      return false;
    }
    return true;
  }
  if (hs.multishot == MultishotState::none && !arm_multishot(hs, accepts)) {
    op.result = -ENOMEM;
    return false;
  }
  return true;  // armed, stopping (re-armed after its last CQE) or starved (re-armed when buffers return)
}

// Re-evaluates a lane head that waits for the multishot (new arrivals, the multishot stopped or re-armable).
void UringBackend::serve_head(HandleState& hs, Direction d) noexcept {
  Lane lane = hs.lane(d);
  if (!lane.head || lane.request != kNoSlot || !hs.handle) return;
  IoOp& op = *lane.head;
  if (op.kind == OpKind::recv_pooled_standing) {
    serve_standing(hs, op);
    return;
  }
  if (try_now(hs, op) || !engage(hs, op)) {
    lane.head = nullptr;
    complete(op, op.result);
    advance_lane(hs, d);
  }
}

// A standing receive at the head of the read lane takes what the handle holds, one completion per arrival,
// staying the head (pending) between them; then it waits for the multishot. The end of the stream or an error
// completes it for the last time. A completion may disarm it (abandon) or close the handle: then it stops.
void UringBackend::serve_standing(HandleState& hs, IoOp& op) noexcept {
  HandleRef keep(*this, hs);
  Lane lane = hs.lane(Direction::read);
  for (;;) {
    if (!try_now(hs, op)) {
      if (engage(hs, op)) return;  // waits for the multishot (op.result set if it cannot)
    } else if (op.result > 0) {
      op.complete(op);
      if (!hs.handle || lane.head != &op) return;
      continue;
    }
    lane.head = nullptr;
    complete(op, op.result);
    if (hs.handle) advance_lane(hs, Direction::read);
    return;
  }
}

// Serves queued ops while the lane is idle: those whose result is known complete here (from the loop), the
// first that needs the kernel becomes the head.
void UringBackend::advance_lane(HandleState& hs, Direction d) noexcept {
  HandleRef keep(*this, hs);
  Lane lane = hs.lane(d);
  while (hs.handle && lane.idle()) {
    IoOp* next = hs.handle->first_queued(d);
    if (!next) return;
    IoOp& op = *next;
    IntrusiveList<IoOp>::unlink(op);
    if (op.kind == OpKind::recv_pooled_standing) {
      lane.head = &op;
      op.backend_state = kLaneHead;
      serve_standing(hs, op);
      continue;
    }
    if (!try_now(hs, op)) {
      lane.head = &op;
      op.backend_state = kLaneHead;
      if (engage(hs, op)) return;
      lane.head = nullptr;
    }
    complete(op, op.result);
  }
}

void UringBackend::complete(IoOp& op, int result) noexcept {
  op.result = result;
  op.pending = false;
  op.backend_state = kNowhere;
  IoOp* outer = std::exchange(restarting_, &op);
  op.complete(op);
  restarting_ = outer;
}

void UringBackend::push_cancelled(IoOp& op) noexcept {
  op.result = -ECANCELED;
  op.pending = true;
  op.backend = this;
  op.backend_state = kCompleting;
  context_.completions.push(op);
}

void UringBackend::kick(HandleState& hs, Direction d) noexcept {
  try {
    kicks_.push_back({&hs, d});
    ref(hs);
  } catch (...) {
    context_.log.error("io_uring: out of memory queuing a lane restart");
  }
}

void UringBackend::run_kicks() noexcept {
  if (kicks_.empty()) return;
  std::vector<Kick> batch;
  batch.swap(kicks_);
  for (Kick k : batch) {
    if (k.hs->handle) {
      serve_head(*k.hs, k.direction);
      advance_lane(*k.hs, k.direction);
    }
    unref(*k.hs);
  }
}

// Multishot receives that ended with -ENOBUFS re-arm once buffers have come back into the ring.
void UringBackend::rearm_starved() noexcept {
  if (starved_.empty()) return;
  buffers_->grow();  // a dry spell whose -ENOBUFS came before the CQEs that leased the last buffers
  if (!buffers_->consume_returned()) return;
  std::vector<HandleState*> batch;
  batch.swap(starved_);
  for (HandleState* hs : batch) {
    hs->starved_listed = false;
    if (hs->handle && hs->multishot == MultishotState::starved) {
      hs->multishot = MultishotState::none;
      serve_head(*hs, Direction::read);
    }
    unref(*hs);
  }
}

}  // namespace rfarm::detail

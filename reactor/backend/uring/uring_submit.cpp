// Turning operations into SQEs, and taking requests back from the kernel (cancel, or a NOP in place when
// the kernel has not seen the SQE yet).
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "reactor/backend/uring/uring_backend.hpp"

namespace rfarm::detail {

namespace {
constexpr int kAcceptFlags = SOCK_NONBLOCK | SOCK_CLOEXEC;

// Whether a receive on a stream socket asks for bytes only (no address, no control data, no flag but MSG_PEEK,
// room for at least one byte): it then goes to the kernel without the caller's buffer (see issue()).
bool bytes_only_receive(const HandleState& hs, const MsgOp& op) noexcept {
  if (!hs.handle->stream || op.msg.msg_name != nullptr || op.msg.msg_control != nullptr) return false;
  if ((op.msg_flags & ~MSG_PEEK) != 0) return false;
  for (std::size_t i = 0; i < op.msg.msg_iovlen; ++i)
    if (op.msg.msg_iov[i].iov_len > 0) return true;
  return false;  // a zero-length receive: the kernel answers at once, and a zero length would mean "a buffer's worth"
}

std::size_t total_length(const msghdr& m) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < m.msg_iovlen; ++i) n += m.msg_iov[i].iov_len;
  return n;
}

// Every receive but two kinds: urgent data (MSG_OOB answers at once, or EINVAL, whatever POLLIN says) and a
// zero-length stream receive (nothing to take; the kernel answers at once) go to the kernel as they are.
bool waits_for_readiness(const HandleState& hs, const MsgOp& op) noexcept {
  if (op.msg_flags & MSG_OOB) return false;
  return !hs.handle->stream || total_length(op.msg) > 0 || op.msg.msg_control != nullptr;
}
}  // namespace

// Runs once, in the thread that first submits: the loop's thread.
void UringBackend::enable_if_needed() noexcept {
  if (started_) return;
  started_ = true;
  if (owned_ring_->disabled) {
    owned_ring_->disabled = false;
    // With SINGLE_ISSUER, the thread that enables the ring is the only one that may submit to it.
    // liburing 2.3 declares io_uring_enable_rings but its shared library does not export it.
    if (::syscall(__NR_io_uring_register, ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0) < 0)
      context_.log.error("io_uring: enabling the ring failed: {}", last_errno().message());
  }
  // A registered ring fd spares every io_uring_enter the descriptor lookup. It is per thread, like the
  // single issuer.
  if (tuning_.registered_ring) io_uring_register_ring_fd(&ring_);
  accepts_peer_wake_.store(true, std::memory_order_release);
}

void UringBackend::submit_now() noexcept {
  enable_if_needed();
  if (buffers_) buffers_->publish();
  io_uring_submit(&ring_);
  ++epoch_;
}

io_uring_sqe* UringBackend::next_sqe() noexcept {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe) {  // the submission queue is full: hand it to the kernel now
    submit_now();
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

std::uint32_t UringBackend::new_request(RequestKind kind, HandleState* hs) noexcept {
  std::uint32_t slot = requests_.acquire();
  if (slot == kNoSlot) return kNoSlot;
  Request& r = requests_[slot];
  r.kind = kind;
  r.handle = hs;
  if (hs) ref(*hs);
  return slot;
}

// An SQE for request slot, tagged with its user_data; nullptr (and the slot released) if none is free.
io_uring_sqe* UringBackend::prepare(std::uint32_t slot) noexcept {
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) {
    release_request(slot);
    return nullptr;
  }
  Request& r = requests_[slot];
  r.sqe = sqe;
  r.submit_epoch = epoch_;
  return sqe;
}

void UringBackend::use_fd(io_uring_sqe* sqe, const HandleState& hs) noexcept {
  if (hs.file_slot >= 0) {
    sqe->fd = hs.file_slot;
    sqe->flags |= IOSQE_FIXED_FILE;
  }
}

int UringBackend::issue(HandleState& hs, IoOp& op, bool allow_ring_buffer) noexcept {
  std::uint32_t slot = new_request(RequestKind::lane_op, &hs);
  if (slot == kNoSlot) return -ENOMEM;
  io_uring_sqe* sqe = prepare(slot);
  if (!sqe) return -EBUSY;
  Request& r = requests_[slot];
  r.op = &op;
  r.direction = direction_of(op.kind);
  switch (op.kind) {
    case OpKind::recv:
    case OpKind::send: {
      MsgOp& mop = as_msg(op);
      msghdr& m = mop.msg;
      // One buffer and no address or control data: the plain RECV / SEND opcodes skip the msghdr copy.
      const bool plain = m.msg_iovlen <= 1 && m.msg_name == nullptr && m.msg_control == nullptr;
      void* base = m.msg_iovlen == 1 ? m.msg_iov[0].iov_base : nullptr;
      std::size_t length = m.msg_iovlen == 1 ? m.msg_iov[0].iov_len : 0;
      if (op.kind == OpKind::recv && allow_ring_buffer && bytes_only_receive(hs, mop)) {
        // Into a buffer the kernel picks from the provided-buffer ring when the bytes come, copied into the
        // caller's at the completion: the kernel never holds the caller's buffer, so a receive given up as the
        // bytes arrive loses nothing and writes nothing the caller took back (on_lane_completion keeps them
        // for the next receive; README.md, "Receives into caller memory", issue 15).
        const std::size_t want = std::min<std::size_t>(total_length(m), buffers_->buffer_size());
        io_uring_prep_recv(sqe, hs.fd(), nullptr, want, mop.msg_flags);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = buffers_->group();
        r.ring_buffer = true;
        break;
      }
      if (op.kind == OpKind::recv && waits_for_readiness(hs, mop)) {
        // Any other receive (descriptors or credentials, a sender's address, a record, or a stream receive while
        // the ring is dry) waits for the socket to be readable and receives at the completion, as epoll does:
        // the kernel never holds the caller's msghdr, so a receive given up takes nothing off the socket.
        io_uring_prep_poll_add(sqe, hs.fd(), POLLIN);
        r.readiness = true;
        break;
      }
      if (op.kind == OpKind::recv) {
        if (plain) {
          io_uring_prep_recv(sqe, hs.fd(), base, length, mop.msg_flags);
        } else {
          io_uring_prep_recvmsg(sqe, hs.fd(), &m, static_cast<unsigned>(mop.msg_flags));
        }
      } else {
        if (plain) {
          io_uring_prep_send(sqe, hs.fd(), base, length, mop.msg_flags | MSG_NOSIGNAL);
        } else {
          io_uring_prep_sendmsg(sqe, hs.fd(), &m, static_cast<unsigned>(mop.msg_flags | MSG_NOSIGNAL));
        }
        // The socket was full a moment ago: wait for room before trying, instead of failing a try first.
        if (hs.send_would_block) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
      }
      r.user_memory = true;
      break;
    }
    case OpKind::send_stream: {
      StreamSendOp& s = as_stream_send(op);
      io_uring_prep_send(sqe, hs.fd(), s.data, s.size, s.flags | MSG_NOSIGNAL);
      if (hs.send_would_block) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;  // as for send, above
      r.user_memory = true;
      break;
    }
    case OpKind::send_pooled: {
      const PooledBuffer& b = as_pooled(op).leased;
      io_uring_prep_send(sqe, hs.fd(), b.data(), b.size(), MSG_NOSIGNAL);
      if (hs.send_would_block) sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;  // as for send, above
      r.user_memory = true;
      break;
    }
    case OpKind::accept: {
      msghdr& m = as_msg(op).msg;
      io_uring_prep_accept(sqe, hs.fd(), static_cast<sockaddr*>(m.msg_name), m.msg_name ? &m.msg_namelen : nullptr,
                           kAcceptFlags);
      r.user_memory = m.msg_name != nullptr;
      break;
    }
    case OpKind::connect: {
      msghdr& m = as_msg(op).msg;
      // The kernel copies the address when it takes the SQE; until then it is caller memory.
      io_uring_prep_connect(sqe, hs.fd(), static_cast<const sockaddr*>(m.msg_name), m.msg_namelen);
      r.user_memory = true;
      break;
    }
    case OpKind::wait_readable: io_uring_prep_poll_add(sqe, hs.fd(), POLLIN); break;
    case OpKind::wait_writable: io_uring_prep_poll_add(sqe, hs.fd(), POLLOUT); break;
    case OpKind::wait_urgent:
      // TCP's urgent-data wake-up carries no POLLPRI in its key (Linux 6.18), and io_uring drops a wake-up whose
      // key misses the asked events: ask POLLRDBAND too (the re-poll then reports POLLPRI).
      io_uring_prep_poll_add(sqe, hs.fd(), POLLPRI | POLLRDBAND);
      break;
    case OpKind::recv_pooled:  // served by the multishot, never issued on its own
    case OpKind::recv_pooled_standing:
      io_uring_prep_nop(sqe);
      r.op = nullptr;
      r.detached = true;
      io_uring_sqe_set_data64(sqe, requests_.user_data(slot));
      return -EINVAL;
  }
  use_fd(sqe, hs);
  io_uring_sqe_set_data64(sqe, requests_.user_data(slot));
  hs.lane(r.direction).request = slot;
  return 0;
}

// The multishot holds a reference on hs and names it directly (multishot_data): no request-table slot. A handle
// has at most one in the kernel: it is armed again only once the last CQE of the previous one came.
bool UringBackend::arm_multishot(HandleState& hs, bool accepts) noexcept {
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return false;
  if (accepts) {
    io_uring_prep_multishot_accept(sqe, hs.fd(), nullptr, nullptr, kAcceptFlags);
  } else {
    io_uring_prep_recv_multishot(sqe, hs.fd(), nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffers_->group();
  }
  use_fd(sqe, hs);
  io_uring_sqe_set_data64(sqe, multishot_data(hs));
  ref(hs);
  hs.multishot = MultishotState::armed;
  hs.multishot_accepts = accepts;
  hs.multishot_cancel_sent = false;
  return true;
}

// Ends the handle's multishot; data it still delivers lands in arrivals, and its last CQE lets the lane go on.
// Always an ASYNC_CANCEL, even for a multishot not submitted yet: the kernel takes SQEs in order, so the cancel
// finds it (a rare case: armed and stopped within one turn).
void UringBackend::stop_multishot(HandleState& hs) noexcept {
  if (hs.multishot != MultishotState::armed) return;
  hs.multishot = MultishotState::stopping;
  cancel_multishot(hs);
}

void UringBackend::cancel_multishot(HandleState& hs) noexcept {
  if (!hs.multishot_in_kernel() || hs.multishot_cancel_sent) return;
  if (io_uring_sqe* sqe = next_sqe()) {
    io_uring_prep_cancel64(sqe, multishot_data(hs), 0);
    io_uring_sqe_set_data64(sqe, kIgnoredData);
    hs.multishot_cancel_sent = true;
  }
}

// Nobody waits for request slot any more (its op was abandoned or cancelled, its handle closed, its watch
// removed). The kernel is told to drop it: an SQE it has not seen becomes a NOP in place; otherwise an
// ASYNC_CANCEL is queued. Returns true if the kernel may still touch caller memory until that cancel is
// submitted: the caller then submits at once, before the memory can be reused.
bool UringBackend::withdraw(std::uint32_t slot) noexcept {
  Request& r = requests_[slot];
  r.detached = true;
  r.op = nullptr;
  r.watcher = nullptr;
  if (r.neutralized || r.cancel_sent) return false;
  if (r.submit_epoch == epoch_) {
    const std::uint64_t data = r.sqe->user_data;
    io_uring_prep_nop(r.sqe);
    io_uring_sqe_set_data64(r.sqe, data);
    r.neutralized = true;
    return false;
  }
  const std::uint64_t data = requests_.user_data(slot);
  const bool user_memory = r.user_memory;
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return false;
  io_uring_prep_cancel64(sqe, data, 0);
  io_uring_sqe_set_data64(sqe, kIgnoredData);
  requests_[slot].cancel_sent = true;
  return user_memory;
}

// A closed handle's registered-file slot is cleared by an SQE (no syscall of its own) and reused once that
// completed; until then the table keeps the socket open, so this rides the same submit as the close's cancels.
void UringBackend::release_file_slot(HandleState& hs) noexcept {
  if (hs.file_slot < 0) return;
  const std::int32_t file_slot = std::exchange(hs.file_slot, -1);
  std::uint32_t slot = new_request(RequestKind::release_file, nullptr);
  io_uring_sqe* sqe = slot == kNoSlot ? nullptr : prepare(slot);
  if (!sqe) {
    if (io_uring_register_files_update(&ring_, static_cast<unsigned>(file_slot), &no_file_, 1) == 1)
      free_file_slots_.push_back(file_slot);
    return;
  }
  io_uring_prep_files_update(sqe, &no_file_, 1, file_slot);
  io_uring_sqe_set_data64(sqe, requests_.user_data(slot));
  requests_[slot].file_slot = file_slot;
}

bool UringBackend::arm_watch(Watcher& w) noexcept {
  std::uint32_t slot = new_request(RequestKind::watch, nullptr);
  if (slot == kNoSlot) return false;
  io_uring_sqe* sqe = prepare(slot);
  if (!sqe) return false;
  requests_[slot].watcher = &w;
  io_uring_prep_poll_add(sqe, w.fd, (w.events & POLLPRI) ? w.events | POLLRDBAND : w.events);  // as wait_urgent
  io_uring_sqe_set_data64(sqe, requests_.user_data(slot));
  w.backend_token = std::uint64_t{slot} + 1;
  return true;
}

}  // namespace rfarm::detail

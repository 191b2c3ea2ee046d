// The io_uring backend: completion-style operations on a completion-style kernel interface.
//
// Operations become SQEs that are submitted once per loop turn together with the wait for completions (one
// io_uring_enter for the whole batch). Receives into pooled buffers use one multishot receive per connection
// fed by a provided-buffer ring, so an idle connection holds no buffer and a busy one needs no SQE per
// message; listeners use a multishot accept. Sends are SQEs too: trying send(2) first measured slower than
// letting the turn's single io_uring_enter carry them (reactor/backend/uring/README.md).
//
// Safety: CQEs name slots of a request table, never caller memory, and per-handle state is backend-owned,
// so an op abandoned or a handle freed while the kernel still holds a request is never touched again (see
// request_table.hpp). When such a request reads or writes caller memory, its cancel is submitted at once.
#include "reactor/backend/uring/uring_backend.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <new>

namespace rfarm::detail {

namespace {
// A listener's accepted descriptors that nobody took: closed with the listener.
void close_accepted(HandleState& hs) noexcept {
  if (!hs.multishot_accepts) return;
  hs.arrivals.for_each([](Arrival& a) {
    if (a.result >= 0) ::close(a.result);
  });
}
}  // namespace

UringBackend::UringBackend(const BackendContext& context, std::unique_ptr<OwnedRing> ring,
                           std::unique_ptr<ProvidedBufferRing> buffers, int wake_fd,
                           const UringTuning& tuning) noexcept
    : context_(context),
      owned_ring_(std::move(ring)),
      ring_(owned_ring_->ring),
      buffers_(std::move(buffers)),
      wake_fd_(wake_fd),
      tuning_(tuning),
      taskrun_flag_((owned_ring_->setup_flags & IORING_SETUP_TASKRUN_FLAG) != 0) {}

UringBackend::~UringBackend() {
  // Requests still in the kernel (sockets the owner never closed, the wake read) must not write into buffers
  // after they are unmapped: cancel them all synchronously first.
  if (!owned_ring_->disabled) {  // (the table does not count multishots: always)
    io_uring_sync_cancel_reg reg{};
    reg.fd = -1;
    reg.flags = IORING_ASYNC_CANCEL_ANY;
    reg.timeout.tv_sec = 1;
    io_uring_register_sync_cancel(&ring_, &reg);
  }
  handles_.for_each_live([](HandleState& hs) {
    close_accepted(hs);
    hs.arrivals.clear();
    if (hs.handle) hs.handle->backend_data = nullptr;
  });
  // The HandleTable frees the states with its chunks.
  starved_.clear();
  kicks_.clear();
  owned_ring_.reset();  // io_uring_queue_exit
  ProvidedBufferRing::retire(std::move(buffers_));
  ::close(wake_fd_);
}

std::error_code UringBackend::arm_wake() noexcept {
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return std::make_error_code(std::errc::resource_unavailable_try_again);
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof wake_value_, 0);
  io_uring_sqe_set_data64(sqe, kWakeData);
  return {};
}

void UringBackend::wake() noexcept {
  std::uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof one);
}

void UringBackend::flush() noexcept {
  enable_if_needed();
  if (buffers_) buffers_->publish();
  // GETEVENTS too: with DEFER_TASKRUN the completion of a cancelled request (which still holds the socket's
  // file) is task work that runs only when the ring is entered for events. The CQEs wait for the next turn.
  io_uring_submit_and_get_events(&ring_);
  ++epoch_;
}

bool UringBackend::wake_peer(Backend& target) noexcept {
  if (target.kind() != BackendKind::uring || &target == this || peer_wake_unsupported_) return false;
  auto& peer = static_cast<UringBackend&>(target);
  if (!peer.accepts_peer_wake_.load(std::memory_order_acquire)) return false;
  const std::uint32_t slot = new_request(RequestKind::peer_wake, nullptr);
  if (slot == kNoSlot) return false;
  io_uring_sqe* sqe = prepare(slot);
  if (!sqe) return false;
  requests_[slot].peer = &peer;
  // The peer's CQE carries kPeerWakeData and only ends its wait; ours (the slot) says whether it was sent.
  // The ring's own descriptor, not its registered index: registered ring fds are per thread.
  io_uring_prep_msg_ring(sqe, peer.ring_.ring_fd, 0, kPeerWakeData, 0);
  io_uring_sqe_set_data64(sqe, requests_.user_data(slot));
  return true;
}

std::size_t UringBackend::wait(std::chrono::nanoseconds timeout) noexcept {
  enable_if_needed();
  run_kicks();
  rearm_starved();
  if (buffers_) buffers_->publish();  // the buffers this turn gave back, before the kernel may pick one
  const bool sq_pending = io_uring_sq_ready(&ring_) > 0;
  if (timeout.count() == 0 || io_uring_cq_ready(&ring_) > 0) {
    // Just poll. With TASKRUN_FLAG the kernel says when entering would post completions; without it, enter.
    const bool work_pending = !taskrun_flag_ || (IO_URING_READ_ONCE(*ring_.sq.kflags) & IORING_SQ_TASKRUN);
    if (sq_pending || work_pending) io_uring_submit_and_get_events(&ring_);
  } else if (timeout.count() < 0) {
    io_uring_submit_and_wait(&ring_, 1);
  } else {
    __kernel_timespec ts{};
    ts.tv_sec = timeout.count() / 1'000'000'000;
    ts.tv_nsec = timeout.count() % 1'000'000'000;
    io_uring_cqe* cqe = nullptr;
    // One syscall submits the turn's SQEs and waits (IORING_FEAT_EXT_ARG); -ETIME / -EINTR just return.
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
  }
  ++epoch_;
  return drain_completions();
}

void UringBackend::close(IoHandle& h) noexcept {
  while (!h.queued.empty()) push_cancelled(h.queued.pop_front());
  if (auto* hs = static_cast<HandleState*>(h.backend_data)) {
    bool submit = false;
    // Whether the kernel holds the socket's file (a request in flight, the registered-file slot).
    bool kernel_holds_file = hs->multishot_in_kernel() || hs->file_slot >= 0;
    for (Direction d : {Direction::read, Direction::write, Direction::urgent}) {
      Lane lane = hs->lane(d);
      if (lane.head) push_cancelled(*std::exchange(lane.head, nullptr));
      if (lane.request != kNoSlot) {
        submit |= withdraw(lane.request);
        kernel_holds_file = true;
      }
    }
    cancel_multishot(*hs);
    close_accepted(*hs);
    hs->arrivals.clear();
    release_file_slot(*hs);
    hs->handle = nullptr;
    h.backend_data = nullptr;
    // The kernel gets the cancels before the descriptor closes:
    //  * the cancelled ops complete later in this turn, and then their buffers may be reused: the kernel must
    //    have dropped the requests by then;
    //  * a multishot armed in this turn (its SQE not submitted yet, the cancel right behind it) must reach the
    //    kernel while its descriptor still names this socket;
    //  * a close takes effect now, not at the next wait(): until the kernel has run the cancels and the slot's
    //    release, a request or the file table keeps the socket open and the peer sees no end of stream. With
    //    DEFER_TASKRUN a cancelled request completes only inside an io_uring_enter for events (flush()); its
    //    CQE waits for the next turn. Our ::close below then drops the last reference.
    // One syscall, only for a handle the kernel held.
    if (kernel_holds_file) {
      flush();
    } else if (submit) {
      submit_now();
    }
    unref(*hs);
    ::close(h.fd);
    h.fd = -1;
    return;
  }
  ::close(h.fd);
  h.fd = -1;
}

void UringBackend::cancel(IoOp& op) noexcept {
  if (!op.pending || op.backend != this) return;
  if (op.backend_state == kQueued) {
    IntrusiveList<IoOp>::unlink(op);
    push_cancelled(op);
  } else if (op.backend_state == kLaneHead) {
    auto& hs = *static_cast<HandleState*>(op.handle->backend_data);
    const Direction d = direction_of(op.kind);
    Lane lane = hs.lane(d);
    lane.head = nullptr;
    if (lane.request != kNoSlot && requests_[lane.request].op == &op && withdraw(lane.request)) submit_now();
    push_cancelled(op);
    kick(hs, d);
  }
  // Otherwise it already has its result (waiting in the completion queue): left alone.
}

void UringBackend::abandon(IoOp& op) noexcept {
  if (op.backend_state == kLaneHead) {
    auto& hs = *static_cast<HandleState*>(op.handle->backend_data);
    const Direction d = direction_of(op.kind);
    Lane lane = hs.lane(d);
    lane.head = nullptr;
    // The op's memory is about to go: a receive into it must be cancelled in the kernel before that.
    if (lane.request != kNoSlot && requests_[lane.request].op == &op && withdraw(lane.request)) submit_now();
    // The next queued op takes the lane later (a request still in flight advances it when it completes).
    // Nothing queued: nothing to advance (a standing receive stopped by its owner, every time a send waits).
    if (op.handle->has_queued(d)) kick(hs, d);
  } else if (op.linked()) {
    IntrusiveList<IoOp>::unlink(op);  // queued on its handle or in the completion queue
  }
  op.pending = false;
  op.backend_state = kNowhere;
}

std::error_code UringBackend::add_watch(Watcher& w) noexcept {
  // POLL_ADD reports a bad descriptor only in its CQE; epoll_ctl says so at once, and so do we.
  if (::fcntl(w.fd, F_GETFD) < 0) return last_errno();
  if (!arm_watch(w)) return std::make_error_code(std::errc::not_enough_memory);
  w.active = true;
  return {};
}

std::error_code UringBackend::modify_watch(Watcher& w) noexcept {
  if (!w.active) return std::make_error_code(std::errc::no_such_file_or_directory);  // as EPOLL_CTL_MOD
  if (w.backend_token != 0) withdraw(static_cast<std::uint32_t>(w.backend_token - 1));
  w.backend_token = 0;
  if (!arm_watch(w)) return std::make_error_code(std::errc::not_enough_memory);
  return {};
}

void UringBackend::remove_watch(Watcher& w) noexcept {
  if (!w.active) return;
  if (w.backend_token != 0) withdraw(static_cast<std::uint32_t>(w.backend_token - 1));
  w.backend_token = 0;
  w.active = false;
}

UringStats uring_stats(Backend& backend) noexcept {
  auto& b = static_cast<UringBackend&>(backend);
  return {b.requests_in_flight(), b.buffers_leased(), b.buffers_provided()};
}

Result<std::unique_ptr<Backend>> make_uring_backend(const BackendContext& context) {
  const UringTuning tuning = UringTuning::from_environment();
  auto ring = open_ring(std::clamp(context.uring_entries, 64u, 32768u), tuning);
  if (!ring) return fail(ring.error());
  // The ring size must be a power of two and buffer ids are 16 bits.
  const unsigned buffer_entries = std::bit_floor(std::clamp(context.uring_buffer_ring_entries, 1u, 32768u));
  // 16 buffers to start with (256 KiB of 16-KiB buffers): doubled whenever the ring runs dry, halved back when
  // the receives in flight stay few (buffer_ring.hpp). Each buffer the kernel has received into holds a resident
  // page, so this is what an idle server keeps: 64 KiB.
  constexpr unsigned kInitialBuffers = 16;
  auto buffers = ProvidedBufferRing::create((*ring)->ring, buffer_entries,
                                            static_cast<std::uint32_t>(context.receive_pool.buffer_size()), 0,
                                            kInitialBuffers);
  if (!buffers) return fail(buffers.error());
  // Blocking on purpose: io_uring would fail a read of an O_NONBLOCK eventfd with -EAGAIN instead of waiting.
  int wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd < 0) return fail_errno();
  std::unique_ptr<UringBackend> backend(
      new (std::nothrow) UringBackend(context, std::move(*ring), std::move(*buffers), wake_fd, tuning));
  if (!backend) {
    ::close(wake_fd);
    return fail(std::make_error_code(std::errc::not_enough_memory));
  }
  if (std::error_code ec = backend->arm_wake()) return fail(ec);
  return backend;
}

}  // namespace rfarm::detail

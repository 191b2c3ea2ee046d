// The epoll backend: completion-style operations on a readiness kernel interface.
//
// Each operation first tries its syscall; only on EAGAIN is it queued on its handle, and the descriptor is
// added to the epoll set once, edge-triggered for IN|OUT|PRI|RDHUP, for its whole lifetime (no epoll_ctl per
// operation). An edge marks the handle readable/writable and retries the queued operations in order until
// one would block. The handle's readiness hints avoid the syscall that would only return EAGAIN: after a
// short read on a stream socket the receive queue is empty, and any later data raises a new edge.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <climits>
#include <cerrno>
#include <ctime>

#include "reactor/backend/detail/backend.hpp"

namespace rfarm::detail {
namespace {

// epoll_event.data tags: a handle pointer is stored as is; a watcher pointer with the low bit set; the wake
// eventfd as the constant below. Zero marks an event invalidated by a close during dispatch.
constexpr std::uint64_t kWatcherTag = 1;
constexpr std::uint64_t kWakeToken = 2;
constexpr std::size_t kMaxEvents = 512;

// IoOp::backend_state bits of this backend.
constexpr std::uint8_t kConnectIssued = 1;  // connect() was called; what is left is waiting for its outcome
constexpr std::uint8_t kQueuedOnHandle = 2;  // in its handle's queue (not in the completion queue)

// This backend's per-handle state, in IoHandle::backend_flags (zero for a new handle: ready both ways, not
// registered). The would-block bits are readiness hints: set by EAGAIN or a short transfer, cleared by an
// edge; while one is set, a new operation of that direction waits for the next edge instead of spending a
// syscall that would return EAGAIN.
enum HandleFlag : std::uint8_t {
  kReadWouldBlock = 1 << 0,
  kWriteWouldBlock = 1 << 1,
  kRegistered = 1 << 2,  // in the interest set (one epoll_ctl per descriptor lifetime)
  // The peer's FIN (EPOLLRDHUP) or an error was announced. End of stream is sticky and gets no edge of its own
  // once announced, so from then on a short read does not mean "wait for the next edge".
  kReadClosed = 1 << 3,
  // Urgent data was announced (EPOLLPRI). A TCP read stops short at the urgent mark (tcp(7)), so from then on
  // a short read does not prove the receive queue drained, until a read finds the queue empty.
  kUrgentSeen = 1 << 4,
  // An operation of this direction may be in the handle's queue: set when one is queued, cleared when a scan
  // finds none or the queue empties. Lets the common turn (a receive completes, the next one is queued, the
  // event also says "writable") skip the queue walks that would find nothing.
  kReadQueued = 1 << 5,
  kWriteQueued = 1 << 6,
};
bool has(const IoHandle& h, HandleFlag f) noexcept { return (h.backend_flags & f) != 0; }
void set(IoHandle& h, HandleFlag f) noexcept { h.backend_flags |= f; }
void clear(IoHandle& h, HandleFlag f) noexcept { h.backend_flags &= static_cast<std::uint8_t>(~f); }

// The queued bit of each direction (urgent waits are rare: their queue is always walked).
constexpr std::uint8_t kQueuedFlag[] = {kReadQueued, kWriteQueued, 0};

bool may_have_queued(const IoHandle& h, Direction d) noexcept {
  const std::uint8_t flag = kQueuedFlag[static_cast<std::uint8_t>(d)];
  return flag == 0 || (h.backend_flags & flag) != 0;
}

// Would an operation of direction d find the descriptor ready, as far as the last edge and syscall tell?
bool ready_hint(const IoHandle& h, Direction d) noexcept {
  switch (d) {
    case Direction::read: return !has(h, kReadWouldBlock);
    case Direction::write: return !has(h, kWriteWouldBlock);
    case Direction::urgent: return true;
  }
  return true;
}

int syscall_result(long r) noexcept { return r >= 0 ? static_cast<int>(r) : -errno; }

std::size_t total_length(const msghdr& msg) noexcept {
  std::size_t n = 0;
  for (std::size_t i = 0; i < msg.msg_iovlen; ++i) n += msg.msg_iov[i].iov_len;
  return n;
}

class EpollBackend final : public Backend {
 public:
  EpollBackend(const BackendContext& context, int epoll_fd, int wake_fd) noexcept
      : context_(context), epoll_fd_(epoll_fd), wake_fd_(wake_fd) {}

  ~EpollBackend() override {
    ::close(wake_fd_);
    ::close(epoll_fd_);
  }

  BackendKind kind() const noexcept override { return BackendKind::epoll; }

  // The hint first: a receive re-armed after a short read (every echoed message) goes straight to the queue,
  // in a leaf path that saves no registers; the syscall path is a tail call.
  bool start(IoOp& op) noexcept override {
    IoHandle& h = *op.handle;
    const Direction d = direction_of(op.kind);
    if (!ready_hint(h, d) || (may_have_queued(h, d) && h.has_queued(d))) return enqueue(h, op, d);
    return start_now(h, op, d);
  }

  // A full socket sets the would-block hint, and only an edge clears it: a handle that never queued an
  // operation is registered then (once per descriptor, as start() does), or it would never hear of room again.
  int try_send(IoHandle& h, const std::byte* data, std::size_t size) noexcept override {
    if (!ready_hint(h, Direction::write) || (has(h, kWriteQueued) && h.has_queued(Direction::write))) return -EAGAIN;
    int r;
    do r = syscall_result(::send(h.fd, data, size, MSG_NOSIGNAL));
    while (r == -EINTR);
    if (r == -EAGAIN || (r >= 0 && h.stream && static_cast<std::size_t>(r) < size)) [[unlikely]] note_full(h);
    return r;
  }

  void note_would_block(IoHandle& h, Direction d) noexcept override {
    if (d == Direction::read) set(h, kReadWouldBlock);
    if (d == Direction::write) set(h, kWriteWouldBlock);
  }

  void abandon(IoOp& op) noexcept override {
    // Queued on its handle or waiting in the completion queue: either way an unlink forgets it.
    if (op.linked()) IntrusiveList<IoOp>::unlink(op);
    op.backend_state &= ~kQueuedOnHandle;
    op.pending = false;
  }

  void cancel(IoOp& op) noexcept override {
    // Only an op still waiting on its handle is cancelled; one already in the completion queue has finished
    // and keeps its result.
    if ((op.backend_state & kQueuedOnHandle) == 0) return;
    op.backend_state &= ~kQueuedOnHandle;
    IntrusiveList<IoOp>::unlink(op);
    op.result = -ECANCELED;
    context_.completions.push(op);
  }

  void close(IoHandle& h) noexcept override {
    while (!h.queued.empty()) {
      IoOp& op = h.queued.pop_front();
      op.backend_state &= ~kQueuedOnHandle;
      op.result = -ECANCELED;
      context_.completions.push(op);
    }
    clear(h, kReadQueued);
    clear(h, kWriteQueued);
    if (has(h, kRegistered)) {
      // Explicit removal: a dup()ed or SCM_RIGHTS-passed copy of the descriptor would keep it in the set.
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, h.fd, nullptr);
      invalidate_pending_events(reinterpret_cast<std::uint64_t>(&h));
      clear(h, kRegistered);
    }
    if (dispatching_ == &h) dispatching_ = nullptr;
    ::close(h.fd);
    h.fd = -1;
  }

  std::error_code add_watch(Watcher& w) noexcept override {
    epoll_event ev{};
    ev.events = w.events;  // level-triggered: notified every turn while ready
    ev.data.u64 = reinterpret_cast<std::uint64_t>(&w) | kWatcherTag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, w.fd, &ev) != 0) return last_errno();
    w.active = true;
    return {};
  }

  std::error_code modify_watch(Watcher& w) noexcept override {
    epoll_event ev{};
    ev.events = w.events;
    ev.data.u64 = reinterpret_cast<std::uint64_t>(&w) | kWatcherTag;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, w.fd, &ev) != 0) return last_errno();
    return {};
  }

  void remove_watch(Watcher& w) noexcept override {
    if (!w.active) return;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, w.fd, nullptr);
    invalidate_pending_events(reinterpret_cast<std::uint64_t>(&w) | kWatcherTag);
    w.active = false;
  }

  std::size_t wait(std::chrono::nanoseconds timeout) noexcept override {
    int n = wait_for_events(timeout);
    if (n < 0) return 0;  // EINTR: the caller's loop comes round again
    event_count_ = n;
    for (event_index_ = 0; event_index_ < event_count_; ++event_index_) {
      // Field by field, not `epoll_event ev = events_[i]`: the struct is packed (data at offset 4), and GCC
      // copies it with two stores and reads data back across both, a store-forwarding stall per event.
      const std::uint64_t token = events_[event_index_].data.u64;
      const std::uint32_t events = events_[event_index_].events;
      if (token == 0) continue;
      if (token == kWakeToken) {
        std::uint64_t drained;
        [[maybe_unused]] ssize_t r = ::read(wake_fd_, &drained, sizeof drained);
      } else if (token & kWatcherTag) {
        auto* w = reinterpret_cast<Watcher*>(token & ~kWatcherTag);
        w->notify(*w, events);
      } else {
        dispatch(*reinterpret_cast<IoHandle*>(token), events);
      }
    }
    event_count_ = 0;
    return static_cast<std::size_t>(n);
  }

  // epoll_pwait2 (Linux 5.11) takes a timespec, so timers keep sub-millisecond precision. Older kernels
  // (and valgrind 3.19) answer ENOSYS: from then on epoll_wait, with the timeout rounded up to whole
  // milliseconds so that a timer never fires early.
  int wait_for_events(std::chrono::nanoseconds timeout) noexcept {
    const int capacity = static_cast<int>(events_.size());
    if (have_pwait2_) {
      timespec ts{};
      timespec* tsp = nullptr;
      if (timeout.count() >= 0) {
        ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
        ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
        tsp = &ts;
      }
      int n = ::epoll_pwait2(epoll_fd_, events_.data(), capacity, tsp, nullptr);
      if (n >= 0 || errno != ENOSYS) return n;
      have_pwait2_ = false;
    }
    int ms = -1;
    if (timeout.count() >= 0) {
      auto rounded_up = std::chrono::ceil<std::chrono::milliseconds>(timeout).count();
      ms = static_cast<int>(std::min<long long>(rounded_up, INT_MAX));
    }
    return ::epoll_wait(epoll_fd_, events_.data(), capacity, ms);
  }

  void wake() noexcept override {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof one);
  }

  std::error_code register_wake() noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeToken;
    return ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) == 0 ? std::error_code{} : last_errno();
  }

 private:
  [[gnu::noinline]] bool start_now(IoHandle& h, IoOp& op, Direction d) noexcept {
    int r = perform(op);
    if (r == -EAGAIN) return enqueue(h, op, d);
    op.result = r;
    return true;
  }

  // Queues op on its handle (registering the descriptor the first time); false, or true with op.result set
  // when the descriptor cannot be watched.
  bool enqueue(IoHandle& h, IoOp& op, Direction d) noexcept {
    if (!has(h, kRegistered)) [[unlikely]] return register_and_enqueue(h, op, d);
    op.backend = this;
    op.pending = true;
    op.backend_state |= kQueuedOnHandle;
    h.backend_flags |= kQueuedFlag[static_cast<std::uint8_t>(d)];
    h.queued.push_back(op);
    return false;
  }

  [[gnu::noinline]] bool register_and_enqueue(IoHandle& h, IoOp& op, Direction d) noexcept {
    if (std::error_code ec = register_handle(h)) {
      op.result = -ec.value();
      return true;
    }
    return enqueue(h, op, d);
  }

  [[gnu::noinline]] void note_full(IoHandle& h) noexcept {
    if (!has(h, kRegistered) && register_handle(h)) return;  // not watched: no hint, the socket is asked again
    set(h, kWriteWouldBlock);
  }

  std::error_code register_handle(IoHandle& h) noexcept {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLPRI | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = reinterpret_cast<std::uint64_t>(&h);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, h.fd, &ev) != 0) return last_errno();
    set(h, kRegistered);
    return {};
  }

  // Performs op's syscall once. Returns the kernel-style result; -EAGAIN means "not yet".
  [[gnu::always_inline]] int perform(IoOp& op) noexcept {
    IoHandle& h = *op.handle;
    int r;
    switch (op.kind) {
      case OpKind::recv: {
        MsgOp& m = as_msg(op);
        do r = syscall_result(plain_buffer(m) ? ::recv(h.fd, m.msg.msg_iov[0].iov_base, m.msg.msg_iov[0].iov_len, m.msg_flags)
                                              : ::recvmsg(h.fd, &m.msg, m.msg_flags));
        while (r == -EINTR);
        if (m.msg_flags & MSG_PEEK) {
          if (r == -EAGAIN) set(h, kReadWouldBlock);  // a short peek leaves the bytes queued: no edge will announce them
        } else if ((m.msg_flags & MSG_OOB) == 0) {
          note_read(h, r, total_length(m.msg));
        }
        return r;
      }
      case OpKind::recv_pooled:
      case OpKind::recv_pooled_standing: {
        PooledBuffer& leased = as_pooled(op).leased;
        leased = context_.receive_pool.acquire();
        MutableBytes space = leased.writable();
        do r = syscall_result(::recv(h.fd, space.data(), space.size(), 0));
        while (r == -EINTR);
        if (r > 0) {
          leased.commit(static_cast<std::size_t>(r));
        } else {
          leased.reset();  // nothing arrived: an idle connection keeps no buffer
        }
        note_read(h, r, space.size());
        return r;
      }
      case OpKind::send: {
        MsgOp& m = as_msg(op);
        const int flags = m.msg_flags | MSG_NOSIGNAL;
        do r = syscall_result(plain_buffer(m) ? ::send(h.fd, m.msg.msg_iov[0].iov_base, m.msg.msg_iov[0].iov_len, flags)
                                              : ::sendmsg(h.fd, &m.msg, flags));
        while (r == -EINTR);
        note_write(h, r, total_length(m.msg));
        return r;
      }
      case OpKind::send_stream: {
        StreamSendOp& s = as_stream_send(op);
        do r = syscall_result(::send(h.fd, s.data, s.size, s.flags | MSG_NOSIGNAL));
        while (r == -EINTR);
        note_write(h, r, s.size);
        return r;
      }
      case OpKind::send_pooled: {
        const PooledBuffer& b = as_pooled(op).leased;
        do r = syscall_result(::send(h.fd, b.data(), b.size(), MSG_NOSIGNAL));
        while (r == -EINTR);
        note_write(h, r, b.size());
        return r;
      }
      case OpKind::accept: {
        MsgOp& m = as_msg(op);
        socklen_t* len = m.msg.msg_name ? &m.msg.msg_namelen : nullptr;
        do r = syscall_result(::accept4(h.fd, static_cast<sockaddr*>(m.msg.msg_name), len,
                                        SOCK_NONBLOCK | SOCK_CLOEXEC));
        while (r == -EINTR);
        if (r == -EAGAIN) set(h, kReadWouldBlock);
        return r;
      }
      case OpKind::connect: return perform_connect(as_msg(op));
      case OpKind::wait_readable: return poll_now(h.fd, POLLIN);
      case OpKind::wait_writable: return poll_now(h.fd, POLLOUT);
      case OpKind::wait_urgent: return poll_now(h.fd, POLLPRI);
    }
    __builtin_unreachable();  // every kind is handled above: no range check before the jump table
  }

  static void note_write(IoHandle& h, int r, std::size_t requested) noexcept {
    if (r == -EAGAIN || (r >= 0 && h.stream && static_cast<std::size_t>(r) < requested)) set(h, kWriteWouldBlock);
  }

  // One buffer, no address, no control data, on a stream socket (whose callers never read msg_flags back):
  // recv/send then do the same work as recvmsg/sendmsg without the kernel importing a msghdr and iovec.
  static bool plain_buffer(const MsgOp& op) noexcept {
    return op.handle->stream && op.msg.msg_iovlen == 1 && op.msg.msg_name == nullptr && op.msg.msg_control == nullptr;
  }

  static void note_read(IoHandle& h, int r, std::size_t requested) noexcept {
    if (r == -EAGAIN) {
      set(h, kReadWouldBlock);
      // Drained: any urgent mark is behind us. A later one comes with an edge that reports EPOLLPRI again
      // (the event mask is the socket's whole state), so short reads may count as "drained" once more.
      clear(h, kUrgentSeen);
    } else if (r > 0 && h.stream && !has(h, kUrgentSeen) && !has(h, kReadClosed) && static_cast<std::size_t>(r) < requested) {
      set(h, kReadWouldBlock);
    }
  }

  static int perform_connect(MsgOp& op) noexcept {
    IoHandle& h = *op.handle;
    if ((op.backend_state & kConnectIssued) == 0) {
      op.backend_state |= kConnectIssued;
      int r = syscall_result(::connect(h.fd, static_cast<sockaddr*>(op.msg.msg_name), op.msg.msg_namelen));
      if (r == -EINPROGRESS || r == -EINTR) {  // EINTR: the connect goes on asynchronously (connect(2))
        set(h, kWriteWouldBlock);
        return -EAGAIN;
      }
      return r;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(h.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
    if (err != 0) return -err;
    // No error pending: connected, unless this edge came before the handshake finished.
    pollfd p{h.fd, POLLOUT, 0};
    return (::poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) ? 0 : -EAGAIN;
  }

  static int poll_now(int fd, short events) noexcept {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, 0);
    if (r < 0) return -errno;
    return (p.revents & (events | POLLERR | POLLHUP | POLLNVAL)) ? 0 : -EAGAIN;
  }

  void dispatch(IoHandle& h, std::uint32_t events) noexcept {
    dispatching_ = &h;
    constexpr std::uint32_t kFailure = EPOLLERR | EPOLLHUP;
    if (events & (EPOLLRDHUP | kFailure)) set(h, kReadClosed);
    if (events & EPOLLPRI) set(h, kUrgentSeen);
    if (events & (EPOLLIN | EPOLLRDHUP | kFailure)) {
      clear(h, kReadWouldBlock);
      if (has(h, kReadQueued)) retry(h, Direction::read);
    }
    if (dispatching_ == &h && (events & (EPOLLOUT | kFailure))) {
      clear(h, kWriteWouldBlock);
      if (has(h, kWriteQueued)) retry(h, Direction::write);
    }
    if (dispatching_ == &h && (events & (EPOLLPRI | kFailure))) retry(h, Direction::urgent);
    dispatching_ = nullptr;
  }

  // Completes queued operations in order until one would block. A completion may close the handle; then
  // dispatching_ is cleared and the handle must not be touched again. A standing receive that got data is
  // completed in place: it stays queued, so the next edge finds it without its owner starting it again. The
  // hint is checked each time round, before the queue is: a completion that drained the socket (short read) and
  // queued the next receive must cost neither a syscall that can only return EAGAIN nor a walk to find it.
  [[gnu::always_inline]] void retry(IoHandle& h, Direction d) noexcept {
    while (ready_hint(h, d)) {
      IoOp* next = h.first_queued(d);
      if (next == nullptr) {
        h.backend_flags &= static_cast<std::uint8_t>(~kQueuedFlag[static_cast<std::uint8_t>(d)]);
        return;
      }
      IoOp& op = *next;
      int r = perform(op);
      if (r == -EAGAIN) return;
      op.result = r;
      if (op.kind != OpKind::recv_pooled_standing || r <= 0) {
        IntrusiveList<IoOp>::unlink(op);
        op.backend_state &= ~kQueuedOnHandle;
        op.pending = false;
      }  // else a standing receive with data: it stays first in the queue, armed for the next arrival
      op.complete(op);
      if (dispatching_ != &h) return;
    }
  }

  // A close during dispatch must not let a later event of the same batch reach the freed object.
  void invalidate_pending_events(std::uint64_t token) noexcept {
    for (int i = event_index_ + 1; i < event_count_; ++i)
      if (events_[i].data.u64 == token) events_[i].data.u64 = 0;
  }

  BackendContext context_;
  int epoll_fd_;
  int wake_fd_;
  std::array<epoll_event, kMaxEvents> events_{};
  int event_count_ = 0;
  int event_index_ = 0;
  IoHandle* dispatching_ = nullptr;
  bool have_pwait2_ = true;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_epoll_backend(const BackendContext& context) {
  int epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return fail_errno();
  int wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    std::error_code ec = last_errno();
    ::close(epoll_fd);
    return fail(ec);
  }
  auto backend = std::make_unique<EpollBackend>(context, epoll_fd, wake_fd);
  if (std::error_code ec = backend->register_wake()) return fail(ec);
  return backend;
}

}  // namespace rfarm::detail

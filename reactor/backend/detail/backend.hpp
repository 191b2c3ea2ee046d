// The interface every I/O backend implements (see io_op.hpp for the operation contract). The portable
// socket layer talks only to this; a backend is one folder (reactor/backend/epoll, reactor/backend/uring)
// behind it. Not API (detail/): installed because reactor/loop/reactor.hpp needs it; BackendKind, which is
// API, is in reactor/backend/backend_kind.hpp.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <system_error>

#include "lib/buffer_pool.hpp"
#include "lib/error.hpp"
#include "lib/log.hpp"
#include "reactor/backend/backend_kind.hpp"
#include "reactor/backend/detail/completion_queue.hpp"
#include "reactor/backend/detail/io_op.hpp"

namespace rfarm {

namespace detail {

// Level-triggered readiness interest in a descriptor the reactor does not own (c-ares sockets, a signalfd,
// a pipe from another library). notify runs from the loop each turn the descriptor is ready.
struct Watcher {
  using NotifyFn = void (*)(Watcher&, std::uint32_t revents) noexcept;
  int fd = -1;
  std::uint32_t events = 0;  // POLLIN / POLLOUT / POLLPRI bits (same values as EPOLLIN / EPOLLOUT / EPOLLPRI)
  NotifyFn notify = nullptr;
  bool active = false;
  std::uint64_t backend_token = 0;  // private to the backend
};

// What a backend gets from its reactor.
struct BackendContext {
  CompletionQueue& completions;
  BufferPool& receive_pool;  // recv_pooled leases from here where the backend has no kernel buffer ring
  Logger& log;
  unsigned uring_entries = 4096;              // ReactorOptions::uring_entries
  unsigned uring_buffer_ring_entries = 4096;  // ReactorOptions::uring_buffer_ring_entries
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual BackendKind kind() const noexcept = 0;

  // See io_op.hpp. start() may complete at once (true) or later (false).
  virtual bool start(IoOp& op) noexcept = 0;
  // A pending op completes with -ECANCELED (later in the turn); one already complete is left alone.
  virtual void cancel(IoOp& op) noexcept = 0;
  // Completes every pending op of handle with -ECANCELED, stops watching it and closes its descriptor.
  virtual void close(IoHandle& handle) noexcept = 0;
  // The op's memory is going away while it is pending: drop it without completing it (see io_op.hpp).
  virtual void abandon(IoOp& op) noexcept = 0;
  // The caller's own syscall on handle (an operation's attempt(), e.g. recvmmsg) found direction d would
  // block. A readiness backend then waits for the next edge instead of trying again at once; a completion
  // backend has nothing to note.
  virtual void note_would_block(IoHandle& handle, Direction d) noexcept {
    (void)handle;
    (void)d;
  }

  // Sends what the stream socket takes now, without an operation and without waiting (libuv's
  // uv_try_write): the bytes taken, or -errno; -EAGAIN when it takes none now, which includes a send
  // operation already waiting on the handle (a direct send never overtakes one) and a backend that sends
  // only through the kernel's queue (this default; io_uring with RFARM_URING_TUNE=no-direct-send). The caller
  // checked that the handle is open.
  virtual int try_send(IoHandle& handle, const std::byte* data, std::size_t size) noexcept {
    (void)handle;
    (void)data;
    (void)size;
    return -EAGAIN;
  }

  virtual std::error_code add_watch(Watcher& w) noexcept = 0;
  virtual std::error_code modify_watch(Watcher& w) noexcept = 0;
  virtual void remove_watch(Watcher& w) noexcept = 0;

  // Waits up to timeout (negative: no limit; zero: just poll) and runs the completions that arrived.
  // Returns how many events it handled.
  virtual std::size_t wait(std::chrono::nanoseconds timeout) noexcept = 0;
  // Interrupts wait() from any thread.
  virtual void wake() noexcept = 0;

  // Hands the kernel what the last turn queued without waiting for anything (io_uring: submits the SQ), so
  // that closes, cancels and wake-ups take effect although no wait() follows (the loop has stopped).
  virtual void flush() noexcept {}

  // Wakes target, another reactor's backend, from this backend's own thread, more cheaply than
  // target.wake() where it can: the io_uring backend sends an IORING_OP_MSG_RING (Linux 5.18) to a peer
  // io_uring backend, which leaves with this turn's other SQEs, so the waker makes no syscall of its own
  // (measured in bench/README.md, "Cross-core messages"). False: nothing was done; call target.wake().
  virtual bool wake_peer(Backend& target) noexcept {
    (void)target;
    return false;
  }
};

// Starts op; if it completes at once, queues its completion for later in this turn instead of returning
// the result, so a callback never runs inside the call that started its operation.
inline void start_and_defer(Backend& backend, CompletionQueue& completions, IoOp& op) noexcept {
  if (backend.start(op)) {
    op.pending = true;
    op.backend = &backend;
    completions.push(op);
  }
}

Result<std::unique_ptr<Backend>> make_epoll_backend(const BackendContext& context);
Result<std::unique_ptr<Backend>> make_uring_backend(const BackendContext& context);

}  // namespace detail
}  // namespace rfarm

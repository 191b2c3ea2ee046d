// The seam between the portable socket layer and the I/O backends (epoll, io_uring, later kqueue).
//
// An IoOp is one completion-style operation ("receive into this buffer", "accept a connection"). It is
// intrusive and owned by its caller: it lives in a coroutine frame (awaitables derive from it) or in a
// socket's heap state (callback style), so starting an operation allocates nothing. An IoHandle is the
// per-descriptor state every backend shares; it lives on the heap so sockets stay movable while the kernel
// or epoll refers to it.
//
// Contract (every backend honours it; reactor/backend/detail/backend.hpp has the interface):
//  * Backend::start(op) either completes op at once (returns true, op.result set, op.complete NOT called)
//    or queues it (returns false) and later calls op.complete(op) from the reactor thread, exactly once.
//  * Operations of one direction on one handle complete in the order they were started.
//  * Backend::close(handle) completes every pending op of that handle with -ECANCELED, later in the turn,
//    never from inside close() itself.
//  * While an op is pending (queued, in the kernel, or waiting in the completion queue) op.pending is true
//    and op.backend names its backend; the backend clears pending just before calling op.complete. An op
//    destroyed while pending is abandoned (Backend::abandon): its completion never runs and the backend
//    never touches its memory again.
//  * The one exception is a standing receive (OpKind::recv_pooled_standing, libuv's read_start): it stays
//    armed after each arrival. The backend calls op.complete(op) once per arrival with op.pending still true,
//    the op still first among its handle's receives, and calls it again at the next arrival without being
//    started again, until a completion with result <= 0 (end of stream, an error, -ECANCELED), which is the
//    last and clears pending as usual. Backend::abandon disarms it, from inside its own completion too. When
//    start() finds data already at hand it completes at once as any op does (returns true): not armed.
//
// Not API (detail/): installed because the sockets' public headers include it.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <iterator>

#include "lib/buffer_pool.hpp"
#include "lib/intrusive_list.hpp"

namespace rfarm::detail {

// Which struct an op is (the backend casts by kind): recv, send, accept, connect are MsgOps; recv_pooled,
// recv_pooled_standing and send_pooled are PooledRecvOps; send_stream is a StreamSendOp; the waits are bare IoOps.
enum class OpKind : std::uint8_t {
  recv,           // recvmsg into msg's iovecs (+ name, control); result = bytes, 0 = end of stream
  recv_pooled,    // receive into a buffer leased at completion time (op.leased); result = bytes
  send,           // sendmsg from msg's iovecs (+ name, control), MSG_NOSIGNAL added; result = bytes
  accept,         // accept4 (non-blocking, close-on-exec); msg_name receives the peer; result = new fd
  connect,        // connect to msg_name; result = 0
  wait_readable,  // readiness only: result = 0 once the descriptor is readable
  wait_writable,  // readiness only: result = 0 once the descriptor is writable
  wait_urgent,    // readiness only: result = 0 once out-of-band data is pending (EPOLLPRI / POLLPRI)
  send_stream,    // send(2) of one buffer on a connected stream socket, MSG_NOSIGNAL added; result = bytes
  send_pooled,    // send(2) of op.leased's bytes (a PooledRecvOp) on a connected stream socket, as send_stream
  recv_pooled_standing,  // recv_pooled that stays armed, completing once per arrival (see the contract above)
};

// Which queue of its handle an operation waits in.
enum class Direction : std::uint8_t { read, write, urgent };

// A table rather than a switch: this runs several times per message on the hot path, and GCC turns the
// switch into a chain of compares. At namespace scope, not inside the function: GCC copies a function-local
// constexpr array onto the stack on every call (~12 instructions per message, callgrind).
inline constexpr Direction kDirectionOf[] = {
    Direction::read,   // recv
    Direction::read,   // recv_pooled
    Direction::write,  // send
    Direction::read,   // accept
    Direction::write,  // connect
    Direction::read,   // wait_readable
    Direction::write,  // wait_writable
    Direction::urgent, // wait_urgent
    Direction::write,  // send_stream
    Direction::write,  // send_pooled
    Direction::read,   // recv_pooled_standing
};
static_assert(std::size(kDirectionOf) == static_cast<std::size_t>(OpKind::recv_pooled_standing) + 1);

constexpr Direction direction_of(OpKind kind) noexcept { return kDirectionOf[static_cast<std::uint8_t>(kind)]; }

// A receive into a leased buffer, one-shot or standing.
constexpr bool is_pooled_receive(OpKind kind) noexcept {
  return kind == OpKind::recv_pooled || kind == OpKind::recv_pooled_standing;
}

class Backend;
struct IoHandle;

// The part of an operation every backend reads: 48 bytes. What an operation works on lives in the struct its
// kind names (below), so an operation that needs no msghdr does not carry one: an idle stream connection's
// pending receive is a PooledRecvOp (80 B), not a 176-B message operation.
struct IoOp : ListHook {
  using CompleteFn = void (*)(IoOp&) noexcept;

  IoOp(OpKind k, CompleteFn fn) noexcept : kind(k), complete(fn) {}
  IoOp(const IoOp&) = delete;
  IoOp& operator=(const IoOp&) = delete;
  ~IoOp() {
    if (pending) abandon();  // inline test: almost every op is destroyed after it completed
  }

  // Tells the backend to forget this op (backend.cpp).
  void abandon() noexcept;

  OpKind kind;
  bool pending = false;
  std::uint8_t backend_state = 0;  // private to the backend (e.g. "connect issued", "in the kernel")
  std::uint8_t shell_state = 0;    // private to the shell that owns the op (OwnedOperation: running)
  int result = 0;                  // >= 0: bytes or new fd; < 0: -errno
  CompleteFn complete;
  IoHandle* handle = nullptr;
  Backend* backend = nullptr;      // set while pending
};

// recv, send, accept, connect: the general message operation.
struct MsgOp : IoOp {
  using IoOp::IoOp;

  // Points msg at one buffer (the common case) without a caller-owned iovec array.
  void set_buffer(void* data, std::size_t size) noexcept {
    single = {data, size};
    msg.msg_iov = &single;
    msg.msg_iovlen = 1;
  }

  int msg_flags = 0;  // MSG_* flags for recv / send
  msghdr msg{};       // iovecs, peer address (accept out, connect / send_to in), control data
  iovec single{};     // storage for set_buffer()
};

// recv_pooled: holds no buffer until data arrives. send_pooled: sends the bytes of the buffer it holds (the one a
// receive leased, in place: an exchange operation answers a message without moving it anywhere).
struct PooledRecvOp : IoOp {
  using IoOp::IoOp;
  PooledBuffer leased;  // the leased buffer holding the data
};

// send_stream: one buffer, no msghdr (a stream socket's send needs no address, control data or iovec array).
struct StreamSendOp : IoOp {
  using IoOp::IoOp;
  const std::byte* data = nullptr;
  std::size_t size = 0;
  int flags = 0;  // MSG_* flags; MSG_NOSIGNAL is added by the backend
};

// The backend's view of an op by its kind (see OpKind).
inline MsgOp& as_msg(IoOp& op) noexcept { return static_cast<MsgOp&>(op); }
inline PooledRecvOp& as_pooled(IoOp& op) noexcept { return static_cast<PooledRecvOp&>(op); }
inline StreamSendOp& as_stream_send(IoOp& op) noexcept { return static_cast<StreamSendOp&>(op); }

static_assert(sizeof(IoOp) == 48, "the lean operation core grew: every pending op pays for it");

struct IoHandle {
  explicit IoHandle(int descriptor, bool is_stream) noexcept : fd(descriptor), stream(is_stream) {}
  IoHandle(const IoHandle&) = delete;
  IoHandle& operator=(const IoHandle&) = delete;

  // The first queued op of direction d, or nullptr.
  IoOp* first_queued(Direction d) noexcept {
    return queued.find_first([d](const IoOp& op) { return direction_of(op.kind) == d; });
  }
  bool has_queued(Direction d) noexcept { return first_queued(d) != nullptr; }

  int fd;
  bool stream;  // SOCK_STREAM: a short read means the receive queue was drained
  // Private to the backend serving this handle, as libuv's per-platform fields are: portable code never reads
  // or writes these two. A backend keeps small per-handle state in the flags (epoll: its readiness hints) and
  // anything bigger behind the pointer (io_uring: lanes, multishot state, registered-file slot).
  std::uint8_t backend_flags = 0;
  void* backend_data = nullptr;

  // The ops waiting on this handle in the backend, every direction in one list: a handle rarely has more than
  // one or two, and a list per direction cost every socket 32 bytes more. Each direction's ops are served in
  // the list's order.
  IntrusiveList<IoOp> queued;
};

}  // namespace rfarm::detail

// Operation logics for TCP urgent ("out-of-band") data (see operation.hpp for how a logic becomes an awaitable
// or a handler operation). Internal to the socket layer; StreamSocket::wait_urgent / recv_urgent use them.
//
// Receiving is built from the seam's wait_urgent readiness plus a direct recv(MSG_OOB): a recv op with MSG_OOB
// would queue in the read direction (holding up the ordinary receives behind it) and its EAGAIN retry waits
// for POLLIN, whereas the urgent byte is announced by POLLPRI.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cstddef>

#include "reactor/backend/detail/operation.hpp"

namespace rfarm::detail {

// Whether urgent data is pending, or the socket failed or hung up: what ends a wait for urgent data. A
// backend's wait_urgent completion is only a hint: io_uring reports the wake-up's key instead of polling
// again, and on Linux 6.18 TCP's urgent wake-up carries no EPOLLPRI, so the io_uring backend waits for a
// wider mask that ordinary data also matches.
inline bool urgent_or_ended(int fd) noexcept {
  pollfd p{fd, POLLPRI, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLPRI | POLLERR | POLLHUP | POLLNVAL));
}

// Completes once urgent data is pending (POLLPRI), or the connection failed or hung up.
struct WaitUrgent {
  static constexpr OpKind kind = OpKind::wait_urgent;
  using result_type = std::error_code;
  void prepare(MsgOp& op) noexcept { op.msg_flags = 0; }
  // A completion without urgent data (see urgent_or_ended) waits again; each needs a new wake-up, so this
  // does not spin.
  Step advance(MsgOp& op) noexcept {
    if (op.result < 0 || urgent_or_ended(op.handle->fd)) return Step::done;
    return Step::again;
  }
  result_type finish(MsgOp& op) noexcept { return op.result < 0 ? op_error(op) : std::error_code{}; }
};

// Waits for the urgent byte and takes it out of band.
struct RecvUrgent {
  static constexpr OpKind kind = OpKind::wait_urgent;
  using result_type = Result<std::byte>;

  // POLLPRI means the byte itself has arrived (tcp_poll sets it only then), so an EAGAIN after it cannot
  // repeat; the bound only keeps a surprise from spinning the loop.
  static constexpr int kMaxRounds = 16;

  void prepare(MsgOp& op) noexcept {
    op.msg_flags = 0;
    rounds = 0;
    received = -EAGAIN;
  }

  Step advance(MsgOp& op) noexcept {
    if (op.result < 0) return Step::done;
    int fd = op.handle->fd;
    ssize_t r;
    do r = ::recv(fd, &byte, 1, MSG_OOB);  // never blocks, whatever the socket mode (tcp(7))
    while (r < 0 && errno == EINTR);
    if (r >= 0) {
      received = static_cast<int>(r);
      return Step::done;
    }
    received = -errno;
    // EAGAIN: the urgent pointer arrived ahead of its byte (RFC 6093 section 3); wait for POLLPRI again.
    if (received == -EAGAIN && ++rounds < kMaxRounds) return Step::again;
    // EINVAL: no urgent byte to read. Either the wait ended on an error or hang-up (report that), or the
    // byte is inline (SO_OOBINLINE: POLLPRI is still up; report EINVAL), or the completion was only a hint.
    if (received == -EINVAL) {
      if (!urgent_or_ended(fd)) return Step::again;
      received = failure_instead(fd, received);
    }
    return Step::done;
  }

  result_type finish(MsgOp& op) noexcept {
    if (op.result < 0) return fail(op_error(op));
    if (received == 1) return byte;
    if (received == 0) return fail(Errc::end_of_stream);
    return fail(errno_code(-received));
  }

  // A pending socket error (a reset), consumed as a read would consume it; 0 (end of stream) after a
  // hang-up; otherwise the EINVAL stays.
  static int failure_instead(int fd, int otherwise) noexcept {
    pollfd p{fd, 0, 0};
    if (::poll(&p, 1, 0) != 1) return otherwise;
    if (p.revents & POLLERR) {
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) return -err;
    }
    if (p.revents & (POLLHUP | POLLERR)) return 0;
    return otherwise;
  }

  std::byte byte{};
  int received = -EAGAIN;  // 1: got the byte; 0: end of stream; < 0: -errno
  int rounds = 0;
};

}  // namespace rfarm::detail

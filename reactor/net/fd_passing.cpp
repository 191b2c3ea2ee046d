#include "reactor/net/fd_passing.hpp"

#include <algorithm>
#include <cstring>

#include "reactor/net/datagram_ops.hpp"

namespace rfarm::detail {

void SendWithFds::prepare(MsgOp& op) noexcept {
  sent = 0;
  op.set_buffer(const_cast<std::byte*>(buffer.data()), buffer.size());
  bool named = to.family() != AddressFamily::unspecified;
  op.msg.msg_name = named ? to.native() : nullptr;
  op.msg.msg_namelen = named ? to.native_length() : 0;
  op.msg.msg_control = nullptr;
  op.msg.msg_controllen = 0;
  op.msg_flags = 0;
  if (fds.empty() || fds.size() > kMaxPassedFds) return;
  std::memset(control, 0, sizeof control);
  op.msg.msg_control = control;
  op.msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
  cmsghdr* c = CMSG_FIRSTHDR(&op.msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
}

Step SendWithFds::advance(MsgOp& op) noexcept {
  if (op.result < 0) return Step::done;
  sent += static_cast<std::size_t>(op.result);
  // The descriptors went with the first bytes; the rest of a stream follows without them.
  op.msg.msg_control = nullptr;
  op.msg.msg_controllen = 0;
  return consume_iovecs(op.msg, static_cast<std::size_t>(op.result)) > 0 ? Step::again : Step::done;
}

void RecvWithFds::prepare(MsgOp& op) noexcept {
  op.set_buffer(buffer.data(), buffer.size());
  op.msg.msg_name = &name;
  op.msg.msg_namelen = sizeof name;
  op.msg.msg_control = control;
  op.msg.msg_controllen = sizeof control;
  op.msg.msg_flags = 0;
  op.msg_flags = flags | MSG_CMSG_CLOEXEC;
}

Result<MessageWithFds> RecvWithFds::finish(MsgOp& op) noexcept {
  if (op.result < 0) return fail(op_error(op));
  MessageWithFds m;
  m.size = std::min(static_cast<std::size_t>(op.result), buffer.size());
  m.truncated = (op.msg.msg_flags & MSG_TRUNC) != 0;
  if (op.msg.msg_namelen > 0) {
    auto a = Address::from_sockaddr(name, op.msg.msg_namelen);
    if (a) m.sender = *a;
  }
  // Only what the kernel installed is taken: cmsg_len counts the descriptors that fit (also under MSG_CTRUNC).
  for (cmsghdr* c = CMSG_FIRSTHDR(&op.msg); c != nullptr; c = CMSG_NXTHDR(&op.msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0)) continue;
    std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      m.fds.emplace_back(fd);
    }
  }
  if (op.msg.msg_flags & MSG_CTRUNC) return fail(Errc::control_truncated);  // m.fds closes what arrived
  if (std::error_code ec = truncation_error(op.msg.msg_flags, flags)) return fail(ec);
  return m;
}

}  // namespace rfarm::detail

#include "reactor/net/datagram_ops.hpp"

#include <algorithm>
#include <cerrno>

namespace rfarm::detail {

namespace {

int syscall_result(int r) noexcept { return r >= 0 ? r : -errno; }

Address name_of(const sockaddr_storage& name, socklen_t length) noexcept {
  if (length == 0) return {};
  auto a = Address::from_sockaddr(name, length);
  return a ? *a : Address{};
}

}  // namespace

Result<Datagram> RecvFrom::finish(MsgOp& op) noexcept {
  if (op.result < 0) return fail(op_error(op));
  if (std::error_code ec = truncation_error(op.msg.msg_flags, flags)) return fail(ec);
  Datagram d;
  d.length = static_cast<std::size_t>(op.result);
  d.size = std::min(d.length, buffer.size());
  d.truncated = (op.msg.msg_flags & MSG_TRUNC) != 0;
  d.control_truncated = (op.msg.msg_flags & MSG_CTRUNC) != 0;
  d.sender = name_of(name, op.msg.msg_namelen);
  return d;
}

bool RecvBatch::attempt(MsgOp& op) noexcept {
  std::size_t n = std::min({buffers.size(), received.size(), kMaxBatch});
  if (n == 0) {
    op.result = 0;
    return true;
  }
  for (std::size_t i = 0; i < n; ++i) {
    iovecs[i] = {buffers[i].data(), buffers[i].size()};
    msghdr& m = headers[i].msg_hdr;
    m = {};
    m.msg_iov = &iovecs[i];
    m.msg_iovlen = 1;
    m.msg_name = received[i].sender.native();  // the name lands in place; its length is fixed up below
    m.msg_namelen = sizeof(sockaddr_storage);
    headers[i].msg_len = 0;
  }
  int r;
  do r = syscall_result(::recvmmsg(op.handle->fd, headers.data(), static_cast<unsigned>(n), flags | MSG_DONTWAIT,
                                   nullptr));
  while (r == -EINTR);
  if (r == -EAGAIN) {
    // Same meaning as the backend's own EAGAIN: on epoll, wait for the next edge instead of polling first.
    static_cast<SocketState*>(op.handle)->reactor->backend().note_would_block(*op.handle, Direction::read);
    return false;
  }
  op.result = r;
  for (int i = 0; i < r; ++i) {
    const msghdr& m = headers[i].msg_hdr;
    Datagram& d = received[i];
    d.length = headers[i].msg_len;
    d.size = std::min<std::size_t>(d.length, buffers[i].size());
    d.truncated = (m.msg_flags & MSG_TRUNC) != 0;
    d.control_truncated = (m.msg_flags & MSG_CTRUNC) != 0;
    d.sender = name_of(reinterpret_cast<const sockaddr_storage&>(*d.sender.native()), m.msg_namelen);
  }
  return true;
}

bool SendBatch::attempt(MsgOp& op) noexcept {
  // Bounded: every round either sends at least one datagram or returns.
  while (sent < datagrams.size()) {
    std::size_t n = std::min(datagrams.size() - sent, kMaxBatch);
    for (std::size_t i = 0; i < n; ++i) {
      const OutgoingDatagram& d = datagrams[sent + i];
      iovecs[i] = {const_cast<std::byte*>(d.data.data()), d.data.size()};
      msghdr& m = headers[i].msg_hdr;
      m = {};
      m.msg_iov = &iovecs[i];
      m.msg_iovlen = 1;
      if (d.to != nullptr) {
        m.msg_name = const_cast<sockaddr*>(d.to->native());
        m.msg_namelen = d.to->native_length();
      }
      headers[i].msg_len = 0;
    }
    int r;
    do r = syscall_result(::sendmmsg(op.handle->fd, headers.data(), static_cast<unsigned>(n),
                                     flags | MSG_DONTWAIT | MSG_NOSIGNAL));
    while (r == -EINTR);
    if (r == -EAGAIN) {
      static_cast<SocketState*>(op.handle)->reactor->backend().note_would_block(*op.handle, Direction::write);
      return false;
    }
    if (r < 0) {
      op.result = r;
      return true;
    }
    sent += static_cast<std::size_t>(r);
  }
  op.result = 0;
  return true;
}

}  // namespace rfarm::detail

namespace rfarm {

DatagramBatch::DatagramBatch(std::size_t datagram_size)
    : storage(detail::kMaxBatch * datagram_size), received(detail::kMaxBatch), replies(detail::kMaxBatch) {
  buffers.reserve(detail::kMaxBatch);
  for (std::size_t i = 0; i < detail::kMaxBatch; ++i) buffers.emplace_back(storage.data() + i * datagram_size, datagram_size);
}

}  // namespace rfarm

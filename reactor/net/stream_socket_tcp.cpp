// StreamSocket's TCP-only members: keep-alive tuning, abortive close, congestion control, urgent data.
#include <sys/socket.h>

#include "reactor/net/stream_socket.hpp"

namespace rfarm {

void StreamSocket::abort() noexcept {
  if (!is_open()) return;
  (void)set_linger(true, std::chrono::seconds(0));  // if it fails the close below is still right, only gentler
  close();
}

std::error_code StreamSocket::set_keepalive(std::chrono::seconds idle, std::chrono::seconds interval,
                                            int count) noexcept {
  if (std::error_code ec = set(option::KeepAliveIdle(static_cast<int>(idle.count())))) return ec;
  if (std::error_code ec = set(option::KeepAliveInterval(static_cast<int>(interval.count())))) return ec;
  if (std::error_code ec = set(option::KeepAliveCount(count))) return ec;
  return set(option::KeepAlive(true));
}

Result<std::string> StreamSocket::congestion_control() const {
  auto name = get<option::Congestion>();
  if (!name) return fail(name.error());
  return std::string(name->value());
}

Result<bool> StreamSocket::at_mark() const noexcept {
  int r = ::sockatmark(native_handle());
  if (r < 0) return fail_errno();
  return r == 1;
}

void StreamSocket::async_send_urgent(ConstBytes data, SizeHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().send_some, std::move(handler), [&](auto& op) {
    op.buffer = data;
    op.flags = MSG_OOB;
  });
}

void StreamSocket::async_wait_urgent(ErrorHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().wait_urgent, std::move(handler), [](auto&) {});
}

void StreamSocket::async_recv_urgent(UrgentHandler handler) {
  detail::start_handler_op(reactor(), state(), stream_state().handler_ops().recv_urgent, std::move(handler), [](auto&) {});
}

}  // namespace rfarm

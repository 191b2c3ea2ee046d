#include "reactor/net/socket.hpp"

#include <unistd.h>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/bind.hpp"

namespace rfarm {

Socket::Socket(std::unique_ptr<detail::SocketState> state) noexcept : state_(std::move(state)) {
  if (is_open()) state_->reactor->note_handle_made(state_->handle_kind());
}

void Socket::close() noexcept {
  if (!is_open()) return;
  // Before the descriptor closes: while the path is checked the socket is still live, so no careful successor
  // can have replaced it (bind.hpp).
  if (state_->extras)
    if (auto file = std::move(state_->extras->socket_file)) detail::remove_socket_file(*file);
  state_->before_close();
  state_->reactor->backend().close(*state_);
  state_->reactor->note_handle_gone(state_->handle_kind());
}

Result<Address> Socket::local_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return fail_errno();
  return Address::from_sockaddr(ss, len);
}

Result<Address> Socket::remote_address() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(native_handle(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return fail_errno();
  return Address::from_sockaddr(ss, len);
}

std::error_code Socket::set_option(int level, int name, const void* value, socklen_t size) noexcept {
  if (::setsockopt(native_handle(), level, name, value, size) != 0) return last_errno();
  return {};
}

std::error_code Socket::get_option(int level, int name, void* value, socklen_t* size) const noexcept {
  if (::getsockopt(native_handle(), level, name, value, size) != 0) return last_errno();
  return {};
}

Result<int> open_socket_fd(int family, int type, int protocol) noexcept {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return fail_errno();
  return fd;
}

}  // namespace rfarm

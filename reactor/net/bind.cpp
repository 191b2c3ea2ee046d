#include "reactor/net/bind.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "reactor/net/unique_fd.hpp"

namespace rfarm {
namespace {

bool same_file(const struct stat& a, const struct stat& b) noexcept {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Whether a socket is bound to the socket file at address. The probe is a datagram connect (unix(7)):
// ECONNREFUSED when nothing is bound to the file any more; success, or EPROTOTYPE when the socket bound there
// is of another type, EPERM when it is a datagram socket connected elsewhere, EAGAIN when it is a listener with
// a full backlog (unix_find_bsd, unix_dgram_connect in net/unix/af_unix.c). A datagram probe is used because
// against a stream or seqpacket listener it fails with EPROTOTYPE before anything reaches the listener: a live
// server never sees a probe connection come and go.
Result<bool> socket_file_is_live(const Address& address) noexcept {
  UniqueFd probe(::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!probe) return fail_errno();
  int err = ::connect(probe.get(), address.native(), address.native_length()) == 0 ? 0 : errno;
  switch (err) {
    case ECONNREFUSED:
    case ENOENT: return false;  // ENOENT: the file went away meanwhile
    case 0:
    case EPROTOTYPE:
    case EPERM:
    case EAGAIN: return true;
    default: return fail(errno_code(err));  // e.g. EACCES: no way to tell, so the file is left alone
  }
}

// Makes way for binding the Unix path (bind.hpp): nothing there, or a stale socket (removed), or an error.
std::error_code clear_unix_path(const std::string& path, const Address& address) noexcept {
  struct stat seen {};
  if (::lstat(path.c_str(), &seen) != 0) return errno == ENOENT ? std::error_code{} : last_errno();
  if (!S_ISSOCK(seen.st_mode)) return Errc::unix_path_not_socket;
  auto live = socket_file_is_live(address);
  if (!live) return live.error();
  if (*live) return Errc::unix_path_in_use;
  // Stale. Only the file that was probed goes: checked again right before the unlink (the window left is in bind.hpp).
  struct stat now {};
  if (::lstat(path.c_str(), &now) != 0) return errno == ENOENT ? std::error_code{} : last_errno();
  if (!same_file(seen, now)) return Errc::unix_path_in_use;  // someone else bound the path meanwhile
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return last_errno();
  return {};
}

// chmod of the socket file that was just bound, without following a symlink swapped in since (fchmodat's
// AT_SYMLINK_NOFOLLOW: glibc does it with fchmodat2 or through /proc/self/fd). Where that is unsupported
// (no /proc), a plain chmod, after checking that the path still names our socket file.
std::error_code set_socket_file_mode(const detail::SocketFile& file, unsigned mode) noexcept {
  if (::fchmodat(AT_FDCWD, file.path.c_str(), mode, AT_SYMLINK_NOFOLLOW) == 0) return {};
  if (errno != EOPNOTSUPP && errno != ENOTSUP) return last_errno();
  struct stat st {};
  if (::lstat(file.path.c_str(), &st) != 0) return last_errno();
  if (!S_ISSOCK(st.st_mode) || st.st_dev != file.device || st.st_ino != file.inode) return Errc::unix_path_in_use;
  if (::chmod(file.path.c_str(), mode) != 0) return last_errno();
  return {};
}

}  // namespace

std::error_code bind_socket(Socket& sock, const Address& address, const BindOptions& options) {
  if (address.is_ip()) {
    if (options.reuse_address)
      if (auto ec = sock.set(option::ReuseAddress(true))) return ec;
    if (options.reuse_port)
      if (auto ec = sock.set(option::ReusePort(true))) return ec;
    if (address.family() == AddressFamily::ipv6)
      if (auto ec = sock.set(option::V6Only(options.v6_only))) return ec;
  }
  const bool unix_path =
      address.family() == AddressFamily::unix_domain && !address.is_abstract() && !address.unix_name().empty();
  std::string path;
  if (unix_path) {
    path = std::string(address.unix_name());
    if (options.unix_path == UnixPathPolicy::replace_stale_socket)
      if (auto ec = clear_unix_path(path, address)) return ec;
  }
  if (::bind(sock.native_handle(), address.native(), address.native_length()) != 0) return last_errno();
  if (!unix_path) return {};
  // The file's identity right after bind: close() removes the file only while the path still names it.
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return last_errno();
  auto file = std::make_unique<detail::SocketFile>(detail::SocketFile{std::move(path), st.st_dev, st.st_ino});
  const detail::SocketFile& bound = *file;
  sock.state()->extras_made().socket_file = std::move(file);
  // bind creates the file with the umask's mode (unix(7)); the chosen mode is set after.
  if (options.unix_mode != 0) return set_socket_file_mode(bound, options.unix_mode);
  return {};
}

std::error_code listen_socket(Socket& sock, const Address& address, const ListenOptions& options) {
  if (auto ec = bind_socket(sock, address, options.bind)) return ec;
  if (::listen(sock.native_handle(), options.backlog) != 0) return last_errno();
  return {};
}

void detail::remove_socket_file(const SocketFile& file) noexcept {
  struct stat st {};
  if (::lstat(file.path.c_str(), &st) != 0) return;
  if (st.st_dev != file.device || st.st_ino != file.inode) return;  // a successor's file, or anything else
  ::unlink(file.path.c_str());
}

}  // namespace rfarm

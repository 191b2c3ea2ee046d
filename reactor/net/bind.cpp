#include "reactor/net/bind.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace rfarm {

std::error_code bind_socket(Socket& sock, const Address& address, const BindOptions& options) {
  if (address.is_ip()) {
    if (options.reuse_address)
      if (auto ec = sock.set(option::ReuseAddress(true))) return ec;
    if (options.reuse_port)
      if (auto ec = sock.set(option::ReusePort(true))) return ec;
    if (address.family() == AddressFamily::ipv6)
      if (auto ec = sock.set(option::V6Only(options.v6_only))) return ec;
  }
  std::string path;
  if (address.family() == AddressFamily::unix_domain && !address.is_abstract()) {
    path = std::string(address.unix_name());
    if (options.unlink_existing) ::unlink(path.c_str());
  }
  if (::bind(sock.native_handle(), address.native(), address.native_length()) != 0) return last_errno();
  // bind creates the socket file with the umask's mode (unix(7)); the chosen mode is set on the path after.
  if (!path.empty() && options.unix_mode != 0 && ::chmod(path.c_str(), options.unix_mode) != 0) return last_errno();
  return {};
}

std::error_code listen_socket(Socket& sock, const Address& address, const ListenOptions& options) {
  if (auto ec = bind_socket(sock, address, options.bind)) return ec;
  if (::listen(sock.native_handle(), options.backlog) != 0) return last_errno();
  return {};
}

}  // namespace rfarm

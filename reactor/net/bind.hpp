// Binding a socket to a local address: the one path every bound socket takes (StreamListener,
// SeqPacketListener, DatagramSocket), with the options a bind needs before (address reuse, dual stack) and
// after it (a Unix socket file's mode), and listen(2) for the listeners.
//
//     rfarm::bind_socket(sock, rfarm::Address::unix_path("/run/x.sock").value(), {.unix_mode = 0600});
//     rfarm::StreamListener::listen(reactor, address, {.bind = {.unix_mode = 0600}, .backlog = 128});
//
// A Unix socket path is a file in someone's directory, and binding treats it with care:
//  * Nothing there: bind creates the socket file.
//  * A socket file: probed with a datagram connect. Nobody bound to it (ECONNREFUSED): stale, left by a server
//    that died; it is removed and the path bound afresh. Somebody is (the probe connects, or is turned away as
//    the wrong type, by a datagram socket connected elsewhere, or by a full backlog): a live server holds the
//    path, and the bind fails with Errc::unix_path_in_use (matches std::errc::address_in_use), leaving the
//    file alone. A probe that cannot tell (EACCES: no write permission on the file) fails with its errno.
//  * Anything else (a regular file, a directory, a symlink, even to a socket, a fifo, a device): the bind fails
//    with Errc::unix_path_not_socket (matches std::errc::file_exists); nothing is touched.
//  * UnixPathPolicy::fail_if_exists skips the probe: any file at the path fails the bind (bind(2)'s
//    EADDRINUSE).
//  * The socket that created the file removes it when it is closed or destroyed, if the path still names
//    that file (the device and inode seen right after bind): a successor's socket at the same path survives
//    its predecessor's late close. Socket::keep_socket_file() opts out (the descriptor was handed to
//    another process, say).
//  * Abstract names (@name) have no file: none of this applies.
//
// What is guaranteed, and what is not (the kernel has no "replace this socket file if it is stale" nor
// "unlink this path if it is still inode N"): a file is only ever removed after it was seen to be a socket
// nobody holds (or, on close, the socket this one bound), and it is checked again right before the unlink.
// Between that check and the unlink (microseconds) another process can still swap the file; to do so it needs
// write access to the directory, which lets it remove the file anyway: the directory's permissions are the
// boundary that protects a socket path, not this check. Two servers started at the same instant on one stale
// path may both find it stale; the second's recheck sees the first's new socket and fails, except in that
// same microsecond window, which would leave the first listening on an unlinked file. Run one server per path
// (a supervisor does) if that matters. Closing removes the file before the descriptor closes, so while the
// check runs the socket is still live and a careful successor refuses to replace it.
#pragma once

#include <system_error>

#include "reactor/net/address.hpp"
#include "reactor/net/socket.hpp"

namespace rfarm {

// What to do when a Unix socket path already names a file.
enum class UnixPathPolicy {
  replace_stale_socket,  // a socket nobody is bound to is replaced; a live socket or any other file is refused
  fail_if_exists,        // anything at the path fails the bind (EADDRINUSE), stale or not
};

struct BindOptions {
  bool reuse_address = false;  // SO_REUSEADDR: several sockets on one port (e.g. multicast receivers)
  bool reuse_port = false;     // SO_REUSEPORT: the kernel spreads datagrams / connections over the sockets on the port
  bool v6_only = false;        // IPV6_V6ONLY on an IPv6 socket (false: IPv4 peers too, as ::ffff:a.b.c.d)
  unsigned unix_mode = 0;      // mode of a Unix path's socket file (e.g. 0600); 0 leaves the umask's choice
  UnixPathPolicy unix_path = UnixPathPolicy::replace_stale_socket;
};

// A listener's options: how it binds, then listen(2)'s backlog, and TCP_NODELAY on what it accepts. `bind`
// starts with SO_REUSEADDR, so a restarted TCP server rebinds while its old connections sit in TIME_WAIT (on
// Linux that never lets two listeners share a port). A designated initialiser replaces the whole member, so
// name it again there, or change one field of a default:
//     ListenOptions options;
//     options.bind.reuse_port = true;
struct ListenOptions {
  BindOptions bind{.reuse_address = true};
  int backlog = 4096;   // capped by net.core.somaxconn
  bool nodelay = true;  // TCP_NODELAY on every accepted TCP connection
};

// Binds sock to address (see above for Unix paths). Fails with the errno of the first step that failed, or
// Errc::unix_path_in_use / Errc::unix_path_not_socket.
std::error_code bind_socket(Socket& sock, const Address& address, const BindOptions& options = {});

// bind_socket, then listen(2).
std::error_code listen_socket(Socket& sock, const Address& address, const ListenOptions& options = {});

namespace detail {
// Removes the socket file sock's bind created, if the path still names it (Socket::close calls it).
void remove_socket_file(const SocketFile& file) noexcept;
}  // namespace detail

}  // namespace rfarm

// Binding a socket to a local address, with the options a bind needs beforehand (address reuse, dual stack)
// or afterwards (a Unix socket file's mode). Used by datagram and seqpacket sockets; stream listeners have
// ListenOptions.
//
//     rfarm::bind_socket(sock, rfarm::Address::unix_path("/run/x.sock").value(), {.unix_mode = 0600});
#pragma once

#include <system_error>

#include "reactor/net/address.hpp"
#include "reactor/net/socket.hpp"

namespace rfarm {

struct BindOptions {
  bool reuse_address = false;   // SO_REUSEADDR: several sockets on one port (e.g. multicast receivers)
  bool reuse_port = false;      // SO_REUSEPORT: the kernel spreads datagrams over the sockets on the port
  bool v6_only = false;         // IPV6_V6ONLY on an IPv6 socket (false: IPv4 peers too, as ::ffff:a.b.c.d)
  unsigned unix_mode = 0;       // chmod for a Unix path socket (e.g. 0600); 0 leaves the umask's choice
  bool unlink_existing = true;  // remove a stale Unix socket file at the path before binding
};

std::error_code bind_socket(Socket& sock, const Address& address, const BindOptions& options = {});

}  // namespace rfarm

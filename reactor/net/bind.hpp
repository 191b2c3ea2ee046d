// Binding a socket to a local address: the one path every bound socket takes (StreamListener,
// SeqPacketListener, DatagramSocket), with the options a bind needs before (address reuse, dual stack) and
// after it (a Unix socket file's mode), and listen(2) for the listeners.
//
//     rfarm::bind_socket(sock, rfarm::Address::unix_path("/run/x.sock").value(), {.unix_mode = 0600});
//     rfarm::StreamListener::listen(reactor, address, {.bind = {.unix_mode = 0600}, .backlog = 128});
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

std::error_code bind_socket(Socket& sock, const Address& address, const BindOptions& options = {});

// bind_socket, then listen(2).
std::error_code listen_socket(Socket& sock, const Address& address, const ListenOptions& options = {});

}  // namespace rfarm

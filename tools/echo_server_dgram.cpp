#include "tools/echo_server_dgram.hpp"

#include <cstdio>
#include <vector>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/seqpacket_socket.hpp"
#include "tools/accept_loop.hpp"

namespace rfarm::tools {

namespace {

// The largest record unixpacket echoes. A record is bounded by its sender's SO_SNDBUF (unix(7)): at most
// twice net.core.wmem_max unless the sender is privileged (SO_SNDBUFFORCE). A larger one closes the
// connection, logged, rather than holding that much memory per connection.
constexpr std::size_t kMaxRecord = std::size_t{16} << 20;

// Receives up to kMaxBatch datagrams per recvmmsg and sends each back to its sender, all in one sendmmsg.
Task<void> udp_echo(DatagramSocket sock) {
  DatagramBatch batch;  // holds any UDP payload: a datagram is never cut here (one that were would be dropped)
  auto& [storage, buffers, received, replies] = batch;
  for (;;) {
    auto n = co_await sock.recv_batch(buffers, received);
    if (!n) {
      if (n.error() == std::errc::operation_canceled) break;
      sock.reactor().log().warn("udp echo: receive: {}", n.error().message());  // e.g. an ICMP error
      continue;
    }
    std::size_t whole = 0;
    for (std::size_t i = 0; i < *n; ++i) {
      if (std::error_code cut = received[i].error()) {  // never echo part of a datagram as if it were all
        sock.reactor().log().warn("udp echo: dropped a datagram from {}: {}", received[i].sender.to_string(),
                                  cut.message());
        continue;
      }
      replies[whole++] = {ConstBytes(buffers[i].data(), received[i].size), &received[i].sender};
    }
    auto sent = co_await sock.send_batch(std::span(replies.data(), whole));
    if (!sent) sock.reactor().log().warn("udp echo: send: {}", sent.error().message());
  }
}

// Makes conn's send buffer hold a record of `length` bytes: a Unix record larger than the sender's SO_SNDBUF
// (less 32 bytes of overhead) fails with EMSGSIZE (unix_dgram_sendmsg). The kernel doubles the value set and
// caps it at twice net.core.wmem_max; a send that still does not fit reports EMSGSIZE.
void fit_send_buffer(SeqPacketSocket& conn, std::size_t length) {
  constexpr std::size_t kOverhead = 32;
  auto current = conn.get<option::SendBufferSize>();
  if (current && static_cast<std::size_t>(current->value) >= length + kOverhead) return;
  conn.set(option::SendBufferSize(static_cast<int>(length + kOverhead)));
}

// One record in, the same record out, until the peer closes. Records of any size up to kMaxRecord come back
// whole: the next record's length is peeked first (MSG_PEEK | MSG_TRUNC returns the whole length, unix(7))
// and the buffer grown to fit it.
Task<void> packet_echo(SeqPacketSocket conn) {
  Logger& log = conn.reactor().log();
  std::vector<std::byte> buffer(64 * 1024);  // grown to fit a longer record
  for (;;) {
    auto next = co_await conn.recv(MutableBytes{}, MSG_PEEK | MSG_TRUNC);
    if (!next) {
      if (next.error() != std::errc::operation_canceled) log.info("unixpacket echo: receive: {}", next.error().message());
      break;
    }
    // End of stream (a zero-length record reads the same on SOCK_SEQPACKET, and ends the echo too).
    if (next->length == 0) break;
    if (next->length > kMaxRecord) {
      log.warn("unixpacket echo: closing a connection: a record of {} bytes exceeds the {}-byte limit", next->length,
               kMaxRecord);
      break;
    }
    if (next->length > buffer.size()) buffer.resize(next->length);
    auto record = co_await conn.recv(buffer);
    if (!record) {
      // A record with descriptors, say (Errc::control_truncated): an echo cannot pass them back.
      log.warn("unixpacket echo: closing a connection: {}", record.error().message());
      break;
    }
    fit_send_buffer(conn, record->size);
    auto sent = co_await conn.send(ConstBytes(buffer.data(), record->size));
    if (!sent) {
      log.warn("unixpacket echo: closing a connection: cannot echo a record of {} bytes: {}", record->size,
               sent.error().message());
      break;
    }
  }
}

// Owns the listener, so it lives as long as the loop.
Task<void> packet_accept_loop(Reactor& reactor, SeqPacketListener listener) {
  co_await accept_loop(reactor, listener, packet_echo);
}

void print_endpoint(Transport transport, const Result<Address>& bound, const Address& asked) {
  std::printf("%s\n", EndpointSpec{transport, bound ? *bound : asked}.to_string().c_str());
  std::fflush(stdout);
}

}  // namespace

bool is_message_transport(Transport transport) noexcept {
  return transport == Transport::udp || transport == Transport::unix_packet;
}

std::error_code start_message_echo(Reactor& reactor, const EndpointSpec& endpoint) {
  if (endpoint.transport == Transport::udp) {
    auto sock = DatagramSocket::bind(reactor, endpoint.address);
    if (!sock) return sock.error();
    print_endpoint(endpoint.transport, sock->local_address(), endpoint.address);
    reactor.spawn(udp_echo(std::move(*sock)));
    return {};
  }
  auto listener = SeqPacketListener::listen(reactor, endpoint.address);
  if (!listener) return listener.error();
  print_endpoint(endpoint.transport, listener->local_address(), endpoint.address);
  reactor.spawn(packet_accept_loop(reactor, std::move(*listener)));
  return {};
}

}  // namespace rfarm::tools

#include "tools/echo_server_dgram.hpp"

#include <array>
#include <cstdio>
#include <memory>
#include <vector>

#include "reactor/net/datagram_socket.hpp"
#include "reactor/net/seqpacket_socket.hpp"
#include "tools/accept_loop.hpp"

namespace rfarm::tools {

namespace {

constexpr std::size_t kMaxDatagram = 65536;  // the largest UDP payload fits (65507 bytes)

// Receives up to kMaxBatch datagrams per recvmmsg and sends each back to its sender, all in one sendmmsg.
Task<void> udp_echo(DatagramSocket sock) {
  std::vector<std::byte> storage(detail::kMaxBatch * kMaxDatagram);
  std::vector<MutableBytes> buffers;
  for (std::size_t i = 0; i < detail::kMaxBatch; ++i) buffers.emplace_back(storage.data() + i * kMaxDatagram, kMaxDatagram);
  std::vector<Datagram> received(detail::kMaxBatch);
  std::vector<OutgoingDatagram> replies(detail::kMaxBatch);
  for (;;) {
    auto n = co_await sock.recv_batch(buffers, received);
    if (!n) {
      if (n.error() == std::errc::operation_canceled) break;
      sock.reactor().log().warn("udp echo: receive: {}", n.error().message());  // e.g. an ICMP error
      continue;
    }
    for (std::size_t i = 0; i < *n; ++i) replies[i] = {ConstBytes(buffers[i].data(), received[i].size), &received[i].sender};
    auto sent = co_await sock.send_batch(std::span(replies.data(), *n));
    if (!sent) sock.reactor().log().warn("udp echo: send: {}", sent.error().message());
  }
}

// One record in, the same record out, until the peer closes.
Task<void> packet_echo(SeqPacketSocket conn) {
  auto buffer = std::make_unique<std::array<std::byte, kMaxDatagram>>();
  for (;;) {
    auto record = co_await conn.recv(*buffer);
    if (!record || (record->size == 0 && !record->truncated)) break;
    if (!co_await conn.send(ConstBytes(buffer->data(), record->size))) break;
  }
}

// Owns the listener, so it lives as long as the loop.
Task<void> packet_accept_loop(Reactor& reactor, SeqPacketListener listener) {
  co_await accept_loop(reactor, listener, packet_echo);
}

void print_endpoint(Transport transport, const Result<Address>& bound, const Address& asked) {
  std::printf("%s\n", format_endpoint(transport, bound ? *bound : asked).c_str());
  std::fflush(stdout);
}

}  // namespace

bool is_message_transport(Transport transport) noexcept {
  return transport == Transport::udp || transport == Transport::unix_packet;
}

std::error_code start_message_echo(Reactor& reactor, const Endpoint& endpoint) {
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

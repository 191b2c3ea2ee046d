// udp_reflect.cpp - rfarm's batched UDP echo with sockperf's reply convention, for bench/run's udp scenario.
//
//   udp_reflect --listen udp:127.0.0.1:0 [--backend epoll|uring|auto] [--spin-us N]
//
// The same loop as `echo-server --listen udp:` (tools/echo_server_dgram.cpp: up to 64 datagrams per recvmmsg,
// answered with one sendmmsg), with one difference: each reply has sockperf's client flag cleared (bit 0 of the
// big-endian 16-bit flags field at byte 8 of its 14-byte header, src/message.h in sockperf), as `sockperf
// server` does. sockperf's client drops a reply that still carries the bit, so a pure echo cannot be measured
// with it. The first stdout line is the bound endpoint; SIGINT/SIGTERM stop it, exit status 0.
#include <csignal>
#include <cstdio>
#include <vector>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/datagram_socket.hpp"
#include "tools/cli.hpp"

using namespace rfarm;

namespace {

constexpr std::size_t kSockperfHeader = 14;  // u64 sequence number, u16 flags, u32 length

Task<void> reflect(DatagramSocket sock) {
  DatagramBatch batch;
  auto& [storage, buffers, received, replies] = batch;
  for (;;) {
    auto n = co_await sock.recv_batch(buffers, received);
    if (!n) {
      if (n.error() == std::errc::operation_canceled) break;
      continue;  // an ICMP error from an earlier reply: not this datagram's fault
    }
    for (std::size_t i = 0; i < *n; ++i) {
      if (received[i].size >= kSockperfHeader) buffers[i][9] &= std::byte{0xfe};  // MsgHeader::setServer()
      replies[i] = {ConstBytes(buffers[i].data(), received[i].size), &received[i].sender};
    }
    (void)co_await sock.send_batch(std::span(replies.data(), *n));  // a full send buffer drops, as UDP does
  }
}

}  // namespace

int main(int argc, char** argv) {
  EndpointSpec listen{};
  tools::CommandLine cli("udp_reflect", "Echoes datagrams with sockperf's client flag cleared (bench/run, udp).");
  tools::add_endpoint_option(cli.app(), "--listen", listen, tools::EndpointUse::listen, {Transport::udp},
                             "udp:HOST:PORT")
      ->required();
  cli.add_reactor_options();
  if (auto status = cli.parse(argc, argv)) return *status;
  auto reactor = Reactor::create(cli.reactor_options());
  if (!reactor) return tools::report_failure("udp_reflect", "reactor: " + reactor.error().message());
  Reactor& loop = **reactor;
  for (int signo : {SIGINT, SIGTERM}) loop.on_signal(signo, [&](int) { loop.stop(); });
  auto sock = DatagramSocket::bind(loop, listen.address);
  if (!sock) return tools::report_failure("udp_reflect", "bind " + listen.to_string() + ": " + sock.error().message());
  auto bound = sock->local_address();
  std::printf("%s\n", EndpointSpec{Transport::udp, bound ? *bound : listen.address}.to_string().c_str());
  std::fflush(stdout);
  loop.spawn(reflect(std::move(*sock)));
  loop.run();
  return 0;
}

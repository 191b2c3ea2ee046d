// TcpInfo: the kernel's TCP_INFO statistics of one connection, with units in the types.
//
//     auto info = sock.tcp_info();                       // Result<TcpInfo>
//     if (info) log("rtt {} us, cwnd {}", info->rtt.count(), info->snd_cwnd);
//
// Read from the full struct of linux/tcp.h (glibc's netinet/tcp.h stops at tcpi_total_retrans). Fields a
// running kernel does not fill stay zero; kernel_size says how many bytes it filled.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "lib/error.hpp"

namespace rfarm {

// The TCP states of tcp_states.h, in its numbering.
enum class TcpState : std::uint8_t {
  unknown = 0,
  established = 1,
  syn_sent,
  syn_received,
  fin_wait1,
  fin_wait2,
  time_wait,
  closed,
  close_wait,
  last_ack,
  listen,
  closing,
};

std::string_view to_string(TcpState state) noexcept;

struct TcpInfo {
  using Micros = std::chrono::microseconds;
  using Millis = std::chrono::milliseconds;

  TcpState state = TcpState::unknown;
  std::uint8_t ca_state = 0;     // congestion: 0 open, 1 disorder, 2 cwr, 3 recovery, 4 loss
  std::uint8_t retransmits = 0;  // consecutive retransmission timeouts of the segment at the head
  std::uint8_t probes = 0;       // unanswered zero-window or keep-alive probes
  std::uint8_t backoff = 0;      // exponential back-off of the retransmission timer
  std::uint8_t options = 0;      // TCPI_OPT_* bits; the helpers below name them

  bool timestamps() const noexcept { return options & 1; }
  bool sack() const noexcept { return options & 2; }
  bool window_scaling() const noexcept { return options & 4; }
  bool ecn() const noexcept { return options & 8; }
  bool syn_data_acked() const noexcept { return options & 32; }  // TCP Fast Open: data in the SYN was acked

  Micros rto{0};
  Micros ato{0};
  Micros rtt{0};      // smoothed round-trip time
  Micros rttvar{0};   // its mean deviation
  Micros min_rtt{0};
  Micros rcv_rtt{0};  // receiver-side estimate

  Millis since_last_data_sent{0};
  Millis since_last_data_received{0};
  Millis since_last_ack_received{0};

  std::uint32_t snd_mss = 0;
  std::uint32_t rcv_mss = 0;
  std::uint32_t advmss = 0;
  std::uint32_t pmtu = 0;
  std::uint32_t snd_cwnd = 0;      // segments
  std::uint32_t snd_ssthresh = 0;  // segments
  std::uint32_t rcv_ssthresh = 0;  // bytes
  std::uint32_t rcv_space = 0;     // bytes
  std::uint32_t snd_wnd = 0;       // bytes: the peer's advertised window (Linux 5.19+)
  std::uint32_t reordering = 0;

  std::uint32_t unacked = 0;  // segments in flight
  std::uint32_t sacked = 0;
  std::uint32_t lost = 0;
  std::uint32_t retrans = 0;  // segments retransmitted and not yet acked
  std::uint32_t total_retrans = 0;
  std::uint32_t notsent_bytes = 0;  // queued but not yet sent

  std::uint64_t bytes_sent = 0;      // data bytes sent, retransmissions included
  std::uint64_t bytes_retrans = 0;
  std::uint64_t bytes_acked = 0;     // RFC 4898 tcpEStatsAppHCThruOctetsAcked
  std::uint64_t bytes_received = 0;  // RFC 4898 tcpEStatsAppHCThruOctetsReceived
  std::uint32_t segs_out = 0;
  std::uint32_t segs_in = 0;
  std::uint32_t data_segs_out = 0;
  std::uint32_t data_segs_in = 0;
  std::uint32_t delivered = 0;

  std::uint64_t pacing_rate = 0;    // bytes per second
  std::uint64_t delivery_rate = 0;  // bytes per second

  std::size_t kernel_size = 0;
};

// TCP_INFO of a TCP socket descriptor (StreamSocket::tcp_info() is the usual way in). A non-TCP socket fails
// with std::errc::no_protocol_option.
Result<TcpInfo> read_tcp_info(int fd) noexcept;

}  // namespace rfarm

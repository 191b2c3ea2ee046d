// linux/tcp.h, not netinet/tcp.h: only the kernel header has the full struct tcp_info, and the two cannot be
// included in one translation unit, so this file includes nothing that pulls in netinet/tcp.h.
#include "reactor/net/tcp_info.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace rfarm {

std::string_view to_string(TcpState state) noexcept {
  switch (state) {
    case TcpState::unknown: return "unknown";
    case TcpState::established: return "established";
    case TcpState::syn_sent: return "syn-sent";
    case TcpState::syn_received: return "syn-received";
    case TcpState::fin_wait1: return "fin-wait-1";
    case TcpState::fin_wait2: return "fin-wait-2";
    case TcpState::time_wait: return "time-wait";
    case TcpState::closed: return "closed";
    case TcpState::close_wait: return "close-wait";
    case TcpState::last_ack: return "last-ack";
    case TcpState::listen: return "listen";
    case TcpState::closing: return "closing";
  }
  return "unknown";
}

Result<TcpInfo> read_tcp_info(int fd) noexcept {
  tcp_info raw{};
  socklen_t length = sizeof raw;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &raw, &length) != 0) return fail_errno();

  TcpInfo info;
  info.kernel_size = length;
  info.state = raw.tcpi_state <= static_cast<std::uint8_t>(TcpState::closing) ? static_cast<TcpState>(raw.tcpi_state)
                                                                              : TcpState::unknown;
  info.ca_state = raw.tcpi_ca_state;
  info.retransmits = raw.tcpi_retransmits;
  info.probes = raw.tcpi_probes;
  info.backoff = raw.tcpi_backoff;
  info.options = raw.tcpi_options;

  info.rto = TcpInfo::Micros(raw.tcpi_rto);
  info.ato = TcpInfo::Micros(raw.tcpi_ato);
  info.rtt = TcpInfo::Micros(raw.tcpi_rtt);
  info.rttvar = TcpInfo::Micros(raw.tcpi_rttvar);
  info.min_rtt = TcpInfo::Micros(raw.tcpi_min_rtt);
  info.rcv_rtt = TcpInfo::Micros(raw.tcpi_rcv_rtt);
  info.since_last_data_sent = TcpInfo::Millis(raw.tcpi_last_data_sent);
  info.since_last_data_received = TcpInfo::Millis(raw.tcpi_last_data_recv);
  info.since_last_ack_received = TcpInfo::Millis(raw.tcpi_last_ack_recv);

  info.snd_mss = raw.tcpi_snd_mss;
  info.rcv_mss = raw.tcpi_rcv_mss;
  info.advmss = raw.tcpi_advmss;
  info.pmtu = raw.tcpi_pmtu;
  info.snd_cwnd = raw.tcpi_snd_cwnd;
  info.snd_ssthresh = raw.tcpi_snd_ssthresh;
  info.rcv_ssthresh = raw.tcpi_rcv_ssthresh;
  info.rcv_space = raw.tcpi_rcv_space;
  info.snd_wnd = raw.tcpi_snd_wnd;
  info.reordering = raw.tcpi_reordering;

  info.unacked = raw.tcpi_unacked;
  info.sacked = raw.tcpi_sacked;
  info.lost = raw.tcpi_lost;
  info.retrans = raw.tcpi_retrans;
  info.total_retrans = raw.tcpi_total_retrans;
  info.notsent_bytes = raw.tcpi_notsent_bytes;

  info.bytes_sent = raw.tcpi_bytes_sent;
  info.bytes_retrans = raw.tcpi_bytes_retrans;
  info.bytes_acked = raw.tcpi_bytes_acked;
  info.bytes_received = raw.tcpi_bytes_received;
  info.segs_out = raw.tcpi_segs_out;
  info.segs_in = raw.tcpi_segs_in;
  info.data_segs_out = raw.tcpi_data_segs_out;
  info.data_segs_in = raw.tcpi_data_segs_in;
  info.delivered = raw.tcpi_delivered;
  info.pacing_rate = raw.tcpi_pacing_rate;
  info.delivery_rate = raw.tcpi_delivery_rate;
  return info;
}

}  // namespace rfarm

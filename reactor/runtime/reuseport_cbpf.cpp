#include "reactor/runtime/reuseport_cbpf.hpp"

#include <sys/socket.h>

#include "lib/error.hpp"

namespace rfarm {

std::vector<sock_filter> cpu_steering_program(std::span<const std::optional<int>> core_cpus) {
  const auto cores = static_cast<std::uint32_t>(core_cpus.size());
  std::vector<sock_filter> program;
  // A = the CPU this packet is processed on.
  program.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<std::uint32_t>(SKF_AD_OFF + SKF_AD_CPU)));
  // One pair per pinned core: "if A == cpu return core", else skip the return.
  for (std::uint32_t core = 0; core < cores; ++core) {
    if (!core_cpus[core]) continue;
    program.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<std::uint32_t>(*core_cpus[core]), 0, 1));
    program.push_back(BPF_STMT(BPF_RET | BPF_K, core));
  }
  // A CPU no core is pinned to: spread by CPU number.
  program.push_back(BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, cores == 0 ? 1 : cores));
  program.push_back(BPF_STMT(BPF_RET | BPF_A, 0));
  return program;
}

std::error_code attach_reuseport_program(int fd, std::span<const sock_filter> program) noexcept {
  sock_fprog fprog{};
  fprog.len = static_cast<unsigned short>(program.size());
  fprog.filter = const_cast<sock_filter*>(program.data());  // the kernel copies it; the type is not const
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof fprog) != 0) return last_errno();
  return {};
}

}  // namespace rfarm

// Steering connections to cores by CPU: a classic BPF program for an SO_REUSEPORT group
// (SO_ATTACH_REUSEPORT_CBPF, Linux 4.5; socket(7)).
//
// The kernel runs the program for each new connection and takes its return value as the index of the
// socket in the group, in the order the sockets joined it (listen()); an index past the end falls back to
// the usual hash. The program reads the CPU the packet is being processed on (SKF_AD_CPU, the same ancillary
// load nginx and Seastar use) and returns the core pinned to that CPU. With receive-side scaling that is
// the CPU the NIC queue interrupts, so the connection's packets, its socket and the code that serves it stay
// on one CPU. On loopback the packet is processed on the sender's CPU: the client's CPU picks the core.
//
//     auto program = cpu_steering_program({0, 1, 2, 3});     // core i pinned to CPU core_cpus[i]
//     attach_reuseport_program(first_listener.native_handle(), program);
#pragma once

#include <linux/filter.h>

#include <optional>
#include <span>
#include <system_error>
#include <vector>

namespace rfarm {

// core_cpus[i]: the CPU core i is pinned to, or nullopt if it is not pinned. The program maps each pinned
// CPU to its core (the first core on a CPU, if several share one) and any other CPU to cpu mod core count.
std::vector<sock_filter> cpu_steering_program(std::span<const std::optional<int>> core_cpus);

// Attaches program to the reuseport group of fd (any member of the group).
std::error_code attach_reuseport_program(int fd, std::span<const sock_filter> program) noexcept;

}  // namespace rfarm

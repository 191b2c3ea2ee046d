// ShardedListener: one TCP (or Unix) service address, its connections spread over the runtime's cores.
//
//     auto listener = co_await ShardedListener::listen(runtime, Address::loopback_v4(7000), {},
//                                                      [](StreamSocket conn) { this_reactor().spawn(echo(std::move(conn))); });
//
// The handler runs on the core that owns the connection, with the socket on that core's reactor; each core
// has its own copy of it. Every core's acceptor registers with the core's shutdown registry, so
// Runtime::shutdown() stops accepting first. How connections reach cores is a visible choice:
//
// * reuseport (the default): one listening socket and accept queue per core, all bound to the address with
//   SO_REUSEPORT; the kernel picks the socket by a hash of the connection's addresses and ports. No core
//   hands anything to another.
// * reuseport_cpu: the same group plus a classic BPF program (reuseport_cbpf.hpp) that picks the core pinned
//   to the CPU the connection's packets are processed on. Meant for pinned cores behind a multi-queue NIC;
//   on loopback it sends every connection of a client to the core on the client's CPU.
// * round_robin: one listening socket on acceptor_core, which accepts in batches and hands each descriptor
//   to the next core in turn through the cross-core queue (adopted there: StreamSocket::adopt). The only
//   mode for a Unix-domain address (the reuseport ones fail with address_family_not_supported: a second
//   socket bound to the path would replace the first one's file).
//
// The figures behind the default are in README.md ("Design notes") and bench/README.md.
//
// Closing: close() (any thread) stops every core's acceptor, as shutdown does; connections already handed
// out are not touched. Dropping the ShardedListener object does not stop accepting.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "lib/error.hpp"
#include "lib/task.hpp"
#include "reactor/net/address.hpp"
#include "reactor/net/stream_listener.hpp"
#include "reactor/runtime/runtime.hpp"

namespace rfarm {

enum class ConnectionDistribution : std::uint8_t {
  reuseport,
  reuseport_cpu,
  round_robin,
};

std::string_view to_string(ConnectionDistribution d) noexcept;
// "reuseport", "reuseport-cpu" (or "cbpf"), "round-robin"; anything else is invalid_argument.
Result<ConnectionDistribution> parse_connection_distribution(std::string_view text) noexcept;

struct ShardedListenOptions {
  ListenOptions listen{};  // bind.reuse_port is set for the reuseport modes
  ConnectionDistribution distribution = ConnectionDistribution::reuseport;
  unsigned acceptor_core = 0;  // round_robin: the core that accepts
};

// Called on the core that owns the connection.
using ConnectionHandler = std::function<void(StreamSocket)>;

namespace detail {
struct ShardedState;
}

class ShardedListener {
 public:
  ShardedListener() noexcept = default;

  // Opens the listening socket(s) and starts accepting; await it on a core of runtime. For the reuseport
  // modes the sockets are opened core by core in core order (the group's order is what the BPF program
  // indexes), the first one on the port asked for (0: the kernel picks) and the others on the same port.
  static Task<Result<ShardedListener>> listen(Runtime& runtime, Address address, ShardedListenOptions options,
                                              ConnectionHandler handler);

  const Address& local_address() const noexcept;
  ConnectionDistribution distribution() const noexcept;
  // Any thread: every core stops accepting (asynchronously, in its next turns). Idempotent.
  void close();
  // Connections each core has received so far (any thread).
  std::vector<std::uint64_t> accepted_per_core() const;

 private:
  explicit ShardedListener(std::shared_ptr<detail::ShardedState> state) noexcept : state_(std::move(state)) {}
  std::shared_ptr<detail::ShardedState> state_;
};

}  // namespace rfarm

// Connecting by host name, Happy Eyeballs v2 style (RFC 8305): every address the lookup gave is tried, IPv6
// and IPv4 interleaved, a new attempt starting each attempt_delay while the earlier ones still run (or at
// once when one fails); the first to connect wins and the others are dropped. A dead first address (SYNs
// going unanswered) then costs attempt_delay, not the kernel's whole SYN retry schedule.
//
//     auto sock = co_await rfarm::connect_by_name(reactor, resolver, "example.test", 443);
//     rfarm::async_connect_by_name(reactor, resolver, "example.test", 443, {}, [](Result<StreamSocket> s) {...});
//
// One lookup asks for A and AAAA together, so the "resolution delay" of RFC 8305 section 3 (waiting a little
// for AAAA when A answers first) does not arise. When every attempt fails the error is the last connect
// error seen (connection_refused, timed_out, ...); lookup failures are the resolver's (Errc::host_not_found).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/task.hpp"
#include "reactor/dns/resolver.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm {

struct ConnectByNameOptions {
  // RFC 8305 section 5 "Connection Attempt Delay": 250 ms recommended (at least 10 ms; 100 ms or more is
  // advised, under 2 s). Zero starts every attempt at once.
  Duration attempt_delay = std::chrono::milliseconds(250);
  // The limit of each connection attempt (zero: the kernel's SYN retries, over a minute).
  Duration attempt_timeout{0};
  // The limit of the whole call, lookup included (zero: none); expiry gives timed_out.
  Duration timeout{0};
  // Which families to look up, and the lookup's own deadline.
  ResolveOptions resolve{};
};

using ConnectHandler = std::move_only_function<void(Result<StreamSocket>)>;

// Looks host up and connects to port on one of its addresses.
Task<Result<StreamSocket>> connect_by_name(Reactor& reactor, Resolver& resolver, std::string host, std::uint16_t port,
                                           ConnectByNameOptions options = {});
// The callback form: handler runs once, on a coming turn (not at all if the reactor is destroyed first).
void async_connect_by_name(Reactor& reactor, Resolver& resolver, std::string_view host, std::uint16_t port,
                           ConnectByNameOptions options, ConnectHandler handler);

// The connection race alone, over addresses already known (each with its port), in the order given except
// that families are interleaved. An empty list fails with Errc::no_address.
Task<Result<StreamSocket>> connect_any(Reactor& reactor, std::vector<Address> addresses,
                                       ConnectByNameOptions options = {});

// RFC 8305 section 4: the family of the first address first, then alternating families, each family keeping
// its own order: [6a, 6b, 4a, 4b] -> [6a, 4a, 6b, 4b].
std::vector<Address> interleave_families(std::vector<Address> addresses);

}  // namespace rfarm

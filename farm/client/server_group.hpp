// ServerGroup: one server spec whose host is a DNS name (tcp:farm.internal:7000, tls:farm.example:7443). The name
// may resolve to many addresses (a Kubernetes headless service, a round-robin record), and each address is one
// server with its own obstinate connection. The group looks the name up at start and again every
// KernelOptions::resolve_interval, so that servers join and leave while the kernel runs, without a membership
// service: KernelCore hears each change as the addresses added and removed since the last answer.
//
//     ServerGroup group(reactor, resolver, options, spec, [&](ServerGroup& g, auto added, auto removed) { ... });
//     group.start();    // the first lookup now; then one every resolve_interval
//
// A lookup that fails (a timeout, SERVFAIL, NXDOMAIN, no address) keeps the last known set: a DNS hiccup must
// not drain a healthy farm. It is logged once per run of failures. Before the first answer the group retries
// on the connection backoff (KernelOptions::backoff), not the slower resolve_interval.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "farm/client/kernel_options.hpp"
#include "reactor/dns/resolver.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"

namespace rfarm::farm {

class ServerGroup {
 public:
  using Changed =
      std::function<void(ServerGroup& group, std::span<const Address> added, std::span<const Address> removed)>;

  ServerGroup(Reactor& reactor, Resolver& resolver, const KernelOptions& options, EndpointSpec spec, Changed changed);
  ServerGroup(const ServerGroup&) = delete;
  ServerGroup& operator=(const ServerGroup&) = delete;
  ~ServerGroup();

  void start();
  // No more lookups (the kernel closes).
  void stop() noexcept;

  const EndpointSpec& spec() const noexcept { return spec_; }
  // The addresses of the last successful lookup, in the resolver's order.
  const std::vector<Address>& members() const noexcept { return members_; }
  // The first lookup has ended, answered or not: a broadcast waits for it (every server means every server).
  bool settled() const noexcept { return lookups_ended_ > 0; }
  std::uint64_t lookups() const noexcept { return lookups_ended_; }

 private:
  void resolve();
  void on_resolved(Result<std::vector<Address>> found);
  void schedule(Duration delay);
  void schedule_next();

  Reactor& reactor_;
  Resolver& resolver_;
  const KernelOptions& options_;
  EndpointSpec spec_;
  Changed changed_;
  std::vector<Address> members_;
  Timer timer_;
  LookupId lookup_ = 0;
  std::uint64_t lookups_ended_ = 0;
  unsigned failures_ = 0;  // consecutive failed lookups
  bool stopped_ = false;
  // The lookup's handler holds a weak reference: a group destroyed before its answer arrives is not touched.
  std::shared_ptr<ServerGroup*> self_ = std::make_shared<ServerGroup*>(this);
};

}  // namespace rfarm::farm

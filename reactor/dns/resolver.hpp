// Resolver: host names to addresses and back, asynchronously, on the reactor's own loop (no thread per lookup).
//
//     auto resolver = rfarm::Resolver::create(reactor).value();
//     auto addresses = co_await resolver->resolve("example.test", "http");   // Result<std::vector<Address>>
//     auto name = co_await resolver->reverse(Address::loopback_v4(0));       // Result<std::string>
//     resolver->async_resolve("example.test", "443", {}, [](Result<std::vector<Address>> r) { ... });
//
// c-ares does the DNS work; the reactor watches its sockets (level-triggered ReadinessWatch, through c-ares's
// socket-state callback) and drives its retransmissions with a timer from ares_timeout(). By default the
// system configuration applies, /etc/resolv.conf (servers, search domains, options) and /etc/hosts;
// ResolverOptions overrides both, which tests use to talk to their own DNS server.
//
// A lookup starts when resolve() / reverse() is called (not when it is awaited), so two lookups started one
// after the other run side by side. Its result arrives on a coming loop turn, never inside the call that
// started it. Failures compare equal to portable conditions:
//   Errc::host_not_found (NXDOMAIN), Errc::no_address (the name has no address of the family asked for),
//   Errc::service_not_found, Errc::name_server_failure (SERVFAIL, REFUSED, malformed answers),
//   std::errc::timed_out (c-ares ran out of tries, or the lookup's deadline passed),
//   std::errc::operation_canceled (cancel(), cancel_all(), or the resolver was destroyed).
//
// One Resolver per reactor, used from the reactor's thread only. Destroy it before its reactor.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "lib/error.hpp"
#include "lib/intrusive_list.hpp"
#include "reactor/net/address.hpp"
#include "reactor/dns/hosts_file.hpp"
#include "reactor/loop/reactor.hpp"

struct ares_channeldata;  // c-ares's channel and answer types (ares.h), kept out of this header
struct ares_addrinfo;

namespace rfarm {

struct ResolverOptions {
  // Name servers to ask instead of the ones /etc/resolv.conf lists; port 0 means 53.
  std::vector<Address> servers{};
  // A hosts(5) file to answer from before DNS, instead of /etc/hosts. Read once, by create().
  std::optional<std::string> hosts_file{};
  // Search domains instead of resolv.conf's; an empty list turns searching off ("name" is asked as is).
  std::optional<std::vector<std::string>> search_domains{};
  // How long c-ares waits for one answer before asking again (zero: resolv.conf's "timeout", else 2 s) and
  // how many rounds over the servers it makes (zero: resolv.conf's "attempts", else 3).
  std::chrono::milliseconds attempt_timeout{0};
  int tries = 0;
  // A deadline for each lookup as a whole, however many tries c-ares has left (zero: none).
  Duration lookup_timeout{0};
};

struct ResolveOptions {
  // unspecified: IPv4 and IPv6 (A and AAAA queries); ipv4 or ipv6: that family only.
  AddressFamily family = AddressFamily::unspecified;
  // This lookup's deadline: negative takes ResolverOptions::lookup_timeout, zero means none.
  Duration timeout{-1};
};

// Names one lookup for cancel(); 0 is never a valid id.
using LookupId = std::uint64_t;

class Resolver;

namespace detail {

struct AresQuery;
class LookupDeliveries;

// One lookup: running (c-ares or a deadline may still finish it), then ready (its result waits for delivery
// on a coming turn), then delivered. Owned by whoever waits for it: an awaitable in a coroutine frame, or
// itself (callback form). Destroying it while it runs detaches it: c-ares's answer is dropped on arrival.
struct Lookup : ListHook {
  using Fn = void (*)(Lookup&) noexcept;
  enum class Stage : std::uint8_t { running, ready, delivered };

  Lookup(Reactor& reactor, Fn deliver_fn, Fn discard_fn) noexcept
      : deliver(deliver_fn), discard(discard_fn), deadline(reactor) {}
  Lookup(const Lookup&) = delete;
  Lookup& operator=(const Lookup&) = delete;
  ~Lookup();

  Result<std::vector<Address>> take_addresses() noexcept;
  Result<std::string> take_name() noexcept;

  Fn deliver;  // runs on a coming turn with the result set
  Fn discard;  // the reactor went away before delivery: free without delivering
  Stage stage = Stage::running;
  LookupId id = 0;
  Resolver* owner = nullptr;   // while running
  AresQuery* query = nullptr;  // while c-ares may still call back about this lookup
  Timer deadline;
  std::error_code error;
  std::vector<Address> addresses;
  std::string name;
};

// co_await shell of a Lookup; T is std::vector<Address> or std::string.
template <class T>
class LookupAwaitable : private Lookup {
 public:
  // Starts the lookup at once: start(lookup) hands it to the resolver.
  template <class Start>
  LookupAwaitable(Reactor& reactor, Start&& start) : Lookup(reactor, &on_deliver, &on_discard) {
    start(static_cast<Lookup&>(*this));
  }
  LookupAwaitable(LookupAwaitable&&) = delete;

  // For Resolver::cancel(), e.g. from another coroutine or a timer.
  LookupId id() const noexcept { return Lookup::id; }

  bool await_ready() const noexcept { return stage != Stage::running; }
  void await_suspend(std::coroutine_handle<> waiter) noexcept { waiter_ = waiter; }
  Result<T> await_resume() noexcept {
    if (linked()) IntrusiveList<Lookup>::unlink(*this);  // ready but not delivered yet: take it now
    stage = Stage::delivered;
    if constexpr (std::is_same_v<T, std::string>) {
      return take_name();
    } else {
      return take_addresses();
    }
  }

 private:
  friend class rfarm::Resolver;
  static void on_deliver(Lookup& lookup) noexcept {
    auto& self = static_cast<LookupAwaitable&>(lookup);
    if (self.waiter_) std::exchange(self.waiter_, {}).resume();
  }
  static void on_discard(Lookup&) noexcept {}
  std::coroutine_handle<> waiter_;
};

}  // namespace detail

class Resolver {
 public:
  using AddressesAwaitable = detail::LookupAwaitable<std::vector<Address>>;
  using NameAwaitable = detail::LookupAwaitable<std::string>;
  // Callback-form lookups live on the heap anyway (their results are vectors and strings), so their handlers
  // are std::move_only_function rather than in-place storage.
  using AddressesHandler = std::move_only_function<void(Result<std::vector<Address>>)>;
  using NameHandler = std::move_only_function<void(Result<std::string>)>;

  // Fails if c-ares cannot start (a bad resolv.conf, no memory) or options.hosts_file cannot be read.
  static Result<std::unique_ptr<Resolver>> create(Reactor& reactor, ResolverOptions options = {});
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;
  // Cancels every lookup: each completes with operation_canceled on a coming turn.
  ~Resolver();

  // Every address of host, with the port service names ("http", "8080", empty for 0), in the order c-ares
  // sorts them (RFC 6724: the preferred destination first), without duplicates. An IP literal ("::1",
  // "fe80::1%eth0") is its own answer.
  //     auto all = co_await resolver.resolve("localhost", "7000");
  AddressesAwaitable resolve(std::string_view host, std::string_view service = {}, const ResolveOptions& options = {});
  // The name of address (a PTR lookup; the hosts file first): Errc::host_not_found if it has none.
  NameAwaitable reverse(const Address& address, const ResolveOptions& options = {});

  // Callback forms; the handler runs on a coming turn, exactly once (unless the reactor is destroyed first).
  LookupId async_resolve(std::string_view host, std::string_view service, const ResolveOptions& options,
                         AddressesHandler handler);
  LookupId async_reverse(const Address& address, const ResolveOptions& options, NameHandler handler);

  // Completes a running lookup with operation_canceled (on a coming turn); false if it is not running.
  // c-ares 1.18 cannot cancel one query of a channel, so its query runs on and its answer is dropped.
  bool cancel(LookupId id) noexcept;
  // Cancels every running lookup; returns how many.
  std::size_t cancel_all() noexcept;

  // A service name or number to a TCP port: "http" -> 80 (from /etc/services), "8080" -> 8080, "" -> 0.
  static Result<std::uint16_t> service_port(std::string_view service);

  Reactor& reactor() const noexcept { return *reactor_; }
  // Lookups started and not finished yet.
  std::size_t running() const noexcept { return running_.size(); }

 private:
  friend struct detail::Lookup;
  struct SocketWatch;
  struct AresTimer : detail::TimerNode {
    AresTimer() noexcept : TimerNode(&AresTimer::on_expiry) {}
    static void on_expiry(detail::TimerNode& node) noexcept;
    Resolver* resolver = nullptr;
  };

  Resolver(Reactor& reactor, ResolverOptions options, std::optional<HostsFile> hosts);
  std::error_code init();

  void start_resolve(detail::Lookup& lookup, std::string_view host, std::string_view service,
                     const ResolveOptions& options);
  void start_reverse(detail::Lookup& lookup, const Address& address, const ResolveOptions& options);
  void begin(detail::Lookup& lookup, const ResolveOptions& options);
  // Moves a running lookup to ready with its result (error, or addresses / name already set).
  void complete(detail::Lookup& lookup, std::error_code error) noexcept;
  // A running lookup is being destroyed: forget it, and drop c-ares's answer when it comes.
  void forget(detail::Lookup& lookup) noexcept;

  static void on_addrinfo(void* arg, int status, int timeouts, ares_addrinfo* result) noexcept;
  static void on_nameinfo(void* arg, int status, int timeouts, char* node, char* service) noexcept;
  static void on_socket_state(void* data, int fd, int readable, int writable) noexcept;
  void on_socket_ready(SocketWatch& watch, std::uint32_t revents) noexcept;
  void process(int read_fd, int write_fd) noexcept;
  void rearm_timer() noexcept;

  Reactor* reactor_;
  ResolverOptions options_;
  std::optional<HostsFile> hosts_;
  ares_channeldata* channel_ = nullptr;
  std::vector<std::unique_ptr<SocketWatch>> watches_;  // slots are reused, never freed while c-ares runs
  AresTimer timer_;
  std::unordered_map<LookupId, detail::Lookup*> running_;
  std::shared_ptr<detail::LookupDeliveries> deliveries_;
  LookupId next_id_ = 1;
  bool processing_ = false;  // inside ares_process_fd: a watch stopped now is not reused until it returns
};

}  // namespace rfarm

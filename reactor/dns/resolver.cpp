#include "reactor/dns/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <mutex>

namespace rfarm {

namespace {

std::error_code error_from_ares(int status) noexcept {
  switch (status) {
    case ARES_SUCCESS: return {};
    case ARES_ENOTFOUND:
    case ARES_ENONAME: return make_error_code(Errc::host_not_found);
    case ARES_ENODATA: return make_error_code(Errc::no_address);
    case ARES_ESERVICE: return make_error_code(Errc::service_not_found);
    case ARES_ETIMEOUT: return make_error_code(Errc::timed_out);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION: return errno_code(ECANCELED);
    case ARES_ENOMEM: return errno_code(ENOMEM);
    case ARES_EBADNAME:
    case ARES_EBADFAMILY:
    case ARES_EBADFLAGS:
    case ARES_EBADQUERY:
    case ARES_EBADSTR: return errno_code(EINVAL);
    default: return make_error_code(Errc::name_server_failure);  // SERVFAIL, REFUSED, bad answers, unreachable
  }
}

int ares_family(AddressFamily family) noexcept {
  switch (family) {
    case AddressFamily::ipv4: return AF_INET;
    case AddressFamily::ipv6: return AF_INET6;
    default: return AF_UNSPEC;
  }
}

bool family_matches(AddressFamily wanted, const Address& address) noexcept {
  return wanted == AddressFamily::unspecified ? address.is_ip() : address.family() == wanted;
}

// c-ares needs ares_library_init() before its first channel (it sets up WinSock and its allocator hooks;
// on Linux nothing but its own counter). That is process-wide by c-ares's design, so it happens once,
// thread-safely, and is never undone: ares_library_cleanup() could pull it from under a resolver of another
// reactor on another thread. What it leaves behind is constant, so it is no shared mutable state of ours.
int init_library_once() noexcept {
  static std::once_flag once;
  static int status = ARES_SUCCESS;
  std::call_once(once, [] { status = ares_library_init(ARES_LIB_INIT_ALL); });
  return status;
}

}  // namespace

namespace detail {

// The argument c-ares hands back to its callback: the lookup to tell, or nobody once it was cancelled or
// destroyed (c-ares 1.18 cannot cancel one query, so the query runs to its end and this is freed then).
struct AresQuery {
  Resolver* resolver;
  Lookup* lookup;
  std::uint16_t port;
  AddressFamily family;
};

// Results wait here for a coming loop turn, so a handler never runs inside c-ares (which may not be
// re-entered from its own callbacks) nor inside the call that started its lookup. Shared with the job posted
// to the reactor: lookups still queued when their resolver is destroyed are delivered all the same.
class LookupDeliveries : public std::enable_shared_from_this<LookupDeliveries> {
 public:
  explicit LookupDeliveries(Reactor& reactor) noexcept : reactor_(reactor) {}
  LookupDeliveries(const LookupDeliveries&) = delete;
  LookupDeliveries& operator=(const LookupDeliveries&) = delete;
  // Only when the reactor dropped the posted job unrun: heap lookups are freed, their handlers never called.
  ~LookupDeliveries() {
    while (!ready_.empty()) {
      Lookup& lookup = ready_.pop_front();
      lookup.discard(lookup);
    }
  }

  void push(Lookup& lookup) {
    ready_.push_back(lookup);
    if (scheduled_) return;
    scheduled_ = true;
    reactor_.post([self = shared_from_this()] { self->deliver_ready(); });
  }

 private:
  void deliver_ready() noexcept {
    scheduled_ = false;
    IntrusiveList<Lookup> batch;  // a handler may destroy a lookup still in the batch: it unlinks itself
    batch.splice_back(ready_);
    while (!batch.empty()) {
      Lookup& lookup = batch.pop_front();
      lookup.stage = Lookup::Stage::delivered;
      lookup.deliver(lookup);
    }
  }

  Reactor& reactor_;
  IntrusiveList<Lookup> ready_;
  bool scheduled_ = false;
};

Lookup::~Lookup() {
  if (owner) owner->forget(*this);
  if (linked()) IntrusiveList<Lookup>::unlink(*this);
}

Result<std::vector<Address>> Lookup::take_addresses() noexcept {
  if (error) return fail(error);
  return std::move(addresses);
}

Result<std::string> Lookup::take_name() noexcept {
  if (error) return fail(error);
  return std::move(name);
}

namespace {

// The callback form: a heap lookup that frees itself once its handler has run.
template <class T>
struct HandlerLookup final : Lookup {
  using Handler = std::move_only_function<void(Result<T>)>;
  HandlerLookup(Reactor& reactor, Handler h) : Lookup(reactor, &on_deliver, &on_discard), handler(std::move(h)) {}

  static void on_deliver(Lookup& lookup) noexcept {
    auto* self = static_cast<HandlerLookup*>(&lookup);
    Handler h = std::move(self->handler);
    Result<T> result = [&] {
      if constexpr (std::is_same_v<T, std::string>) {
        return self->take_name();
      } else {
        return self->take_addresses();
      }
    }();
    delete self;  // first: the handler may destroy the resolver or the reactor's other users
    h(std::move(result));
  }
  static void on_discard(Lookup& lookup) noexcept { delete static_cast<HandlerLookup*>(&lookup); }

  Handler handler;
};

}  // namespace
}  // namespace detail

// One watched c-ares socket. Slots are reused (never freed while c-ares runs, see processing_).
struct Resolver::SocketWatch {
  explicit SocketWatch(Reactor& reactor) noexcept : watch(reactor) {}
  ReadinessWatch watch;
  int fd = -1;
};

Result<std::unique_ptr<Resolver>> Resolver::create(Reactor& reactor, ResolverOptions options) {
  if (int status = init_library_once(); status != ARES_SUCCESS) return fail(error_from_ares(status));
  std::optional<HostsFile> hosts;
  if (options.hosts_file) {
    auto loaded = HostsFile::load(*options.hosts_file);
    if (!loaded) return fail(loaded.error());
    hosts = std::move(*loaded);
  }
  std::unique_ptr<Resolver> resolver(new Resolver(reactor, std::move(options), std::move(hosts)));
  if (std::error_code ec = resolver->init()) return fail(ec);
  return resolver;
}

Resolver::Resolver(Reactor& reactor, ResolverOptions options, std::optional<HostsFile> hosts)
    : reactor_(&reactor),
      options_(std::move(options)),
      hosts_(std::move(hosts)),
      deliveries_(std::make_shared<detail::LookupDeliveries>(reactor)) {
  timer_.resolver = this;
}

std::error_code Resolver::init() {
  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB;
  opts.sock_state_cb = &Resolver::on_socket_state;
  opts.sock_state_cb_data = this;
  if (options_.attempt_timeout.count() > 0) {
    opts.timeout = static_cast<int>(options_.attempt_timeout.count());
    mask |= ARES_OPT_TIMEOUTMS;
  }
  if (options_.tries > 0) {
    opts.tries = options_.tries;
    mask |= ARES_OPT_TRIES;
  }
  std::vector<char*> domains;
  if (options_.search_domains) {
    for (std::string& d : *options_.search_domains) domains.push_back(d.data());
    opts.domains = domains.data();
    opts.ndomains = static_cast<int>(domains.size());
    mask |= ARES_OPT_DOMAINS;
  }
  // Our own hosts file replaces /etc/hosts: c-ares then does DNS only ("b"), we do the file.
  char dns_only[] = "b";
  if (hosts_) {
    opts.lookups = dns_only;
    mask |= ARES_OPT_LOOKUPS;
  }
  ares_channel channel = nullptr;
  if (int status = ares_init_options(&channel, &opts, mask); status != ARES_SUCCESS) return error_from_ares(status);
  channel_ = channel;

  if (!options_.servers.empty()) {
    std::vector<ares_addr_port_node> nodes(options_.servers.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      const Address& server = options_.servers[i];
      ares_addr_port_node& node = nodes[i];
      node.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
      node.family = server.native_family();
      if (server.family() == AddressFamily::ipv4) {
        std::memcpy(&node.addr.addr4, server.octets().data(), 4);
      } else if (server.family() == AddressFamily::ipv6) {
        std::memcpy(&node.addr.addr6, server.octets().data(), 16);
      } else {
        return errno_code(EAFNOSUPPORT);
      }
      node.udp_port = node.tcp_port = server.port();  // 0: c-ares's default, 53
    }
    if (int status = ares_set_servers_ports(channel_, nodes.data()); status != ARES_SUCCESS)
      return error_from_ares(status);
  }
  return {};
}

Resolver::~Resolver() {
  if (channel_ != nullptr) {
    // Cancel before destroying: c-ares 1.18's getaddrinfo ends its query at the first ARES_EDESTRUCTION
    // answer while the other family's query may still be outstanding (host_callback, ares_getaddrinfo.c);
    // ARES_ECANCELLED is counted down like any answer. Every callback runs here; its lookup completes.
    ares_cancel(channel_);
    ares_destroy(channel_);  // closes c-ares's sockets, telling on_socket_state first
  }
  // Lookups that had no c-ares query running (none are expected): cancelled all the same.
  while (!running_.empty()) complete(*running_.begin()->second, errno_code(ECANCELED));
  reactor_->remove_timer(timer_);
}

// --- starting lookups ------------------------------------------------------------------------------------

Resolver::AddressesAwaitable Resolver::resolve(std::string_view host, std::string_view service,
                                               const ResolveOptions& options) {
  return AddressesAwaitable(*reactor_, [&](detail::Lookup& l) { start_resolve(l, host, service, options); });
}

Resolver::NameAwaitable Resolver::reverse(const Address& address, const ResolveOptions& options) {
  return NameAwaitable(*reactor_, [&](detail::Lookup& l) { start_reverse(l, address, options); });
}

LookupId Resolver::async_resolve(std::string_view host, std::string_view service, const ResolveOptions& options,
                                 AddressesHandler handler) {
  auto* lookup = new detail::HandlerLookup<std::vector<Address>>(*reactor_, std::move(handler));
  start_resolve(*lookup, host, service, options);
  return lookup->id;  // still alive: it is delivered on a coming turn at the earliest
}

LookupId Resolver::async_reverse(const Address& address, const ResolveOptions& options, NameHandler handler) {
  auto* lookup = new detail::HandlerLookup<std::string>(*reactor_, std::move(handler));
  start_reverse(*lookup, address, options);
  return lookup->id;
}

void Resolver::begin(detail::Lookup& lookup, const ResolveOptions& options) {
  lookup.id = next_id_++;
  lookup.owner = this;
  lookup.stage = detail::Lookup::Stage::running;
  running_.emplace(lookup.id, &lookup);
  Duration limit = options.timeout.count() < 0 ? options_.lookup_timeout : options.timeout;
  if (limit.count() > 0) {
    lookup.deadline.start(limit, [this, l = &lookup] { complete(*l, make_error_code(Errc::timed_out)); });
  }
}

void Resolver::start_resolve(detail::Lookup& lookup, std::string_view host, std::string_view service,
                             const ResolveOptions& options) {
  begin(lookup, options);
  auto port = service_port(service);
  if (!port) return complete(lookup, port.error());
  if (host.empty() || host.find('\0') != std::string_view::npos) return complete(lookup, errno_code(EINVAL));

  // An IP literal answers itself; c-ares would too, but without the "%scope" of a link-local address.
  if (auto literal = Address::from_ip(host, *port)) {
    if (!family_matches(options.family, *literal)) return complete(lookup, make_error_code(Errc::no_address));
    lookup.addresses.push_back(*literal);
    return complete(lookup, {});
  }
  if (hosts_) {
    for (Address a : hosts_->find(host)) {
      if (!family_matches(options.family, a)) continue;
      a.set_port(*port);
      lookup.addresses.push_back(a);
    }
    if (!lookup.addresses.empty()) return complete(lookup, {});
  }

  auto* query = new detail::AresQuery{this, &lookup, *port, options.family};
  lookup.query = query;
  ares_addrinfo_hints hints{};
  hints.ai_family = ares_family(options.family);
  hints.ai_socktype = SOCK_STREAM;  // one entry per address rather than one per socket type
  std::string name(host);
  // May call on_addrinfo before it returns (a name c-ares answers from /etc/hosts, or a failure).
  ares_getaddrinfo(channel_, name.c_str(), nullptr, &hints, &Resolver::on_addrinfo, query);
  rearm_timer();
}

void Resolver::start_reverse(detail::Lookup& lookup, const Address& address, const ResolveOptions& options) {
  begin(lookup, options);
  if (!address.is_ip()) return complete(lookup, errno_code(EAFNOSUPPORT));
  if (hosts_) {
    if (std::string name = hosts_->name_of(address); !name.empty()) {
      lookup.name = std::move(name);
      return complete(lookup, {});
    }
  }
  auto* query = new detail::AresQuery{this, &lookup, address.port(), address.family()};
  lookup.query = query;
  // NAMEREQD: no name is an error, not the address printed back as text.
  ares_getnameinfo(channel_, address.native(), address.native_length(), ARES_NI_LOOKUPHOST | ARES_NI_NAMEREQD,
                   &Resolver::on_nameinfo, query);
  rearm_timer();
}

Result<std::uint16_t> Resolver::service_port(std::string_view service) {
  if (service.empty()) return std::uint16_t{0};
  unsigned value = 0;
  auto [end, ec] = std::from_chars(service.data(), service.data() + service.size(), value);
  if (ec == std::errc() && end == service.data() + service.size()) {
    if (value > 65535) return fail(errno_code(EINVAL));
    return static_cast<std::uint16_t>(value);
  }
  // getservbyname_r reads /etc/services, a small local file, as c-ares itself would.
  std::string name(service);
  servent entry{};
  servent* found = nullptr;
  char buffer[4096];
  if (::getservbyname_r(name.c_str(), "tcp", &entry, buffer, sizeof buffer, &found) != 0 || found == nullptr)
    return fail(Errc::service_not_found);
  return static_cast<std::uint16_t>(ntohs(static_cast<std::uint16_t>(found->s_port)));
}

// --- finishing lookups -----------------------------------------------------------------------------------

void Resolver::complete(detail::Lookup& lookup, std::error_code error) noexcept {
  lookup.deadline.cancel();
  if (lookup.query != nullptr) {
    lookup.query->lookup = nullptr;  // c-ares's answer, when it comes, is dropped
    lookup.query = nullptr;
  }
  running_.erase(lookup.id);
  lookup.owner = nullptr;
  lookup.error = error;
  if (error) {
    lookup.addresses.clear();
    lookup.name.clear();
  }
  lookup.stage = detail::Lookup::Stage::ready;
  deliveries_->push(lookup);
}

void Resolver::forget(detail::Lookup& lookup) noexcept {
  if (lookup.query != nullptr) lookup.query->lookup = nullptr;
  lookup.query = nullptr;
  running_.erase(lookup.id);
  lookup.owner = nullptr;
}

bool Resolver::cancel(LookupId id) noexcept {
  auto it = running_.find(id);
  if (it == running_.end()) return false;
  complete(*it->second, errno_code(ECANCELED));
  return true;
}

std::size_t Resolver::cancel_all() noexcept {
  std::vector<LookupId> ids;
  ids.reserve(running_.size());
  for (const auto& entry : running_) ids.push_back(entry.first);
  for (LookupId id : ids) cancel(id);
  return ids.size();
}

void Resolver::on_addrinfo(void* arg, int status, int, ares_addrinfo* result) noexcept {
  std::unique_ptr<detail::AresQuery> query(static_cast<detail::AresQuery*>(arg));
  std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owned(result, &ares_freeaddrinfo);
  if (query->lookup == nullptr) return;  // cancelled, timed out or destroyed meanwhile
  detail::Lookup& lookup = *query->lookup;
  lookup.query = nullptr;
  if (status != ARES_SUCCESS) return query->resolver->complete(lookup, error_from_ares(status));
  for (ares_addrinfo_node* node = result ? result->nodes : nullptr; node != nullptr; node = node->ai_next) {
    auto address = Address::from_sockaddr(node->ai_addr, static_cast<socklen_t>(node->ai_addrlen));
    if (!address || !family_matches(query->family, *address)) continue;
    address->set_port(query->port);
    if (std::ranges::find(lookup.addresses, *address) == lookup.addresses.end()) lookup.addresses.push_back(*address);
  }
  query->resolver->complete(lookup, lookup.addresses.empty() ? make_error_code(Errc::no_address) : std::error_code{});
}

void Resolver::on_nameinfo(void* arg, int status, int, char* node, char*) noexcept {
  std::unique_ptr<detail::AresQuery> query(static_cast<detail::AresQuery*>(arg));
  if (query->lookup == nullptr) return;
  detail::Lookup& lookup = *query->lookup;
  lookup.query = nullptr;
  if (status == ARES_SUCCESS && node != nullptr) lookup.name = node;  // c-ares owns node: copy it
  std::error_code error = status != ARES_SUCCESS ? error_from_ares(status)
                          : lookup.name.empty()  ? make_error_code(Errc::host_not_found)
                                                 : std::error_code{};
  query->resolver->complete(lookup, error);
}

// --- driving c-ares from the loop ------------------------------------------------------------------------

// c-ares says which sockets it wants watched, and for what; both flags clear just before it closes one.
void Resolver::on_socket_state(void* data, int fd, int readable, int writable) noexcept {
  auto* self = static_cast<Resolver*>(data);
  auto it = std::ranges::find_if(self->watches_, [fd](const auto& w) { return w->fd == fd; });
  SocketWatch* slot = it != self->watches_.end() ? it->get() : nullptr;
  if (!readable && !writable) {
    if (slot != nullptr) {
      slot->watch.stop();
      slot->fd = -1;
    }
    return;
  }
  std::uint32_t events = (readable ? POLLIN : 0u) | (writable ? POLLOUT : 0u);
  if (slot != nullptr) {
    if (std::error_code ec = slot->watch.modify(events))
      self->reactor_->log().error("resolver: cannot watch c-ares socket {}: {}", fd, ec.message());
    return;
  }
  if (!self->processing_) {
    auto free_slot = std::ranges::find_if(self->watches_, [](const auto& w) { return w->fd < 0; });
    if (free_slot != self->watches_.end()) slot = free_slot->get();
  }
  if (slot == nullptr) slot = self->watches_.emplace_back(std::make_unique<SocketWatch>(*self->reactor_)).get();
  slot->fd = fd;
  std::error_code ec = slot->watch.start(fd, events, [self, slot](std::uint32_t revents) {
    self->on_socket_ready(*slot, revents);
  });
  // Unwatched, the socket's queries end by c-ares's timeout instead of by their answers.
  if (ec) self->reactor_->log().error("resolver: cannot watch c-ares socket {}: {}", fd, ec.message());
}

void Resolver::on_socket_ready(SocketWatch& slot, std::uint32_t revents) noexcept {
  // An error or hang-up is reported to c-ares as readiness: its read or write then sees the error.
  constexpr std::uint32_t kTrouble = POLLERR | POLLHUP;
  int read_fd = (revents & (POLLIN | kTrouble)) ? slot.fd : ARES_SOCKET_BAD;
  int write_fd = (revents & (POLLOUT | kTrouble)) ? slot.fd : ARES_SOCKET_BAD;
  process(read_fd, write_fd);
}

void Resolver::process(int read_fd, int write_fd) noexcept {
  processing_ = true;
  ares_process_fd(channel_, read_fd, write_fd);  // also expires c-ares's timed-out tries
  processing_ = false;
  rearm_timer();
}

void Resolver::AresTimer::on_expiry(detail::TimerNode& node) noexcept {
  static_cast<AresTimer&>(node).resolver->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void Resolver::rearm_timer() noexcept {
  reactor_->remove_timer(timer_);
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) return;  // no query waits for an answer
  reactor_->add_timer(timer_, std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
}

}  // namespace rfarm

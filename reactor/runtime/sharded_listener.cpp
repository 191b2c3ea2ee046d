#include "reactor/runtime/sharded_listener.hpp"

#include <poll.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <optional>

#include "reactor/net/unique_fd.hpp"
#include "reactor/runtime/reuseport_cbpf.hpp"
#include "reactor/runtime/shutdown.hpp"

namespace rfarm {

std::string_view to_string(ConnectionDistribution d) noexcept {
  switch (d) {
    case ConnectionDistribution::reuseport: return "reuseport";
    case ConnectionDistribution::reuseport_cpu: return "reuseport-cpu";
    case ConnectionDistribution::round_robin: return "round-robin";
  }
  return "?";
}

Result<ConnectionDistribution> parse_connection_distribution(std::string_view text) noexcept {
  auto is = [&](std::string_view name) {
    return text.size() == name.size() && ::strncasecmp(text.data(), name.data(), text.size()) == 0;
  };
  if (is("reuseport")) return ConnectionDistribution::reuseport;
  if (is("reuseport-cpu") || is("cbpf")) return ConnectionDistribution::reuseport_cpu;
  if (is("round-robin") || is("rr")) return ConnectionDistribution::round_robin;
  return fail(std::make_error_code(std::errc::invalid_argument));
}

namespace detail {

class RoundRobinAcceptor;

// Shared by the handle and every core's acceptor. Each PerCore slot is touched by its own core only (the
// counter is read from anywhere).
struct ShardedState {
  struct alignas(kCacheLine) PerCore {
    std::atomic<std::uint64_t> accepted{0};
    ConnectionHandler handler;               // this core's copy
    StreamListener* listener = nullptr;      // reuseport modes: the accept loop's listener, while it runs
    RoundRobinAcceptor* round_robin = nullptr;  // round_robin, on the acceptor core
  };

  ShardedState(Runtime& r, const ShardedListenOptions& o, const ConnectionHandler& handler)
      : runtime(r), options(o), cores(r.core_count()) {
    for (PerCore& c : cores) c.handler = handler;
  }

  // On the owning core: the connection is this core's now.
  void deliver(unsigned core, StreamSocket conn) {
    PerCore& slot = cores[core];
    slot.accepted.store(slot.accepted.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    slot.handler(std::move(conn));
  }
  void stop_core(unsigned core) noexcept;

  Runtime& runtime;
  const ShardedListenOptions options;
  Address address;  // the bound address (the real port), set once listen() has it
  std::vector<PerCore> cores;
};

// ---------------------------------------------------------------------------------------------------------
// reuseport: an accept loop per core, on that core's own listening socket.

Task<void> accept_on_this_core(std::shared_ptr<ShardedState> state, unsigned core, StreamListener listener) {
  ShardedState::PerCore& slot = state->cores[core];
  AcceptorGuard acceptor([&listener] { listener.close(); });
  slot.listener = &listener;
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) {
      // Cancelled: closed by close() or shutdown. Anything else (descriptor exhaustion is retried inside
      // accept()) ends this core's share of the service, loudly.
      if (conn.error() != std::errc::operation_canceled)
        this_reactor().log().error("sharded listener: accept on core {}: {}", core, conn.error().message());
      break;
    }
    state->deliver(core, std::move(*conn));
  }
  slot.listener = nullptr;
}

Result<Address> open_on_this_core(const std::shared_ptr<ShardedState>& state, const Address& address) {
  ListenOptions options = state->options.listen;
  options.bind.reuse_port = true;
  auto listener = StreamListener::listen(this_reactor(), address, options);
  if (!listener) return fail(listener.error());
  auto local = listener->local_address();
  if (!local) return fail(local.error());
  this_reactor().spawn(accept_on_this_core(state, this_core(), std::move(*listener)));
  return local;
}

// ---------------------------------------------------------------------------------------------------------
// round_robin: one core accepts (level-triggered readiness, accept4 in batches) and deals descriptors out.

class RoundRobinAcceptor {
 public:
  RoundRobinAcceptor(std::shared_ptr<ShardedState> state, StreamListener listener)
      : state_(std::move(state)),
        listener_(std::move(listener)),
        watch_(this_reactor()),
        backoff_timer_(this_reactor()),
        guard_([this] { stop(); }) {
    state_->cores[this_core()].round_robin = this;
  }
  RoundRobinAcceptor(const RoundRobinAcceptor&) = delete;
  RoundRobinAcceptor& operator=(const RoundRobinAcceptor&) = delete;
  ~RoundRobinAcceptor() { state_->cores[this_core()].round_robin = nullptr; }

  std::error_code start() {
    return watch_.start(listener_.native_handle(), POLLIN, [this](std::uint32_t) { accept_batch(); });
  }

  // Stops accepting. The owner's coroutine resumes in a later turn (never inside this call, which may run
  // from the shutdown registry or a watch callback) and destroys the acceptor.
  void stop() noexcept {
    if (stopped_) return;
    stopped_ = true;
    watch_.stop();
    backoff_timer_.cancel();
    listener_.close();
    if (waiter_) state_->runtime.post(this_core(), [h = waiter_] { h.resume(); });
  }

  // co_await acceptor.stopped(): suspends the owner until stop().
  auto stopped() noexcept {
    struct Awaiter {
      RoundRobinAcceptor& self;
      bool await_ready() const noexcept { return self.stopped_; }
      void await_suspend(std::coroutine_handle<> h) noexcept { self.waiter_ = h; }
      void await_resume() const noexcept {}
    };
    return Awaiter{*this};
  }

 private:
  static bool is_resource_exhaustion(int err) noexcept {
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
  }

  void accept_batch() noexcept {
    // Bounded per turn so a connection storm cannot starve this core's own connections.
    for (int i = 0; i < 64 && !stopped_; ++i) {
      const int fd = ::accept4(listener_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        hand_off(UniqueFd(fd));
        continue;
      }
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == ECONNABORTED || err == EINTR || err == EPROTO) continue;  // accept(2): try the next one
      if (is_resource_exhaustion(err)) {
        // As StreamListener does: stop polling (the connections wait in the backlog) and retry later.
        backoff_ = backoff_.count() == 0 ? std::chrono::milliseconds(10) : std::min<Duration>(backoff_ * 2, std::chrono::seconds(1));
        this_reactor().log().warn("round-robin acceptor: {}; retrying in {} ms", errno_code(err).message(),
                                  std::chrono::duration_cast<std::chrono::milliseconds>(backoff_).count());
        watch_.stop();
        backoff_timer_.start(backoff_, [this] {
          if (!stopped_) (void)start();
        });
        return;
      }
      this_reactor().log().error("round-robin acceptor: accept: {}", errno_code(err).message());
      return;
    }
    backoff_ = Duration(0);
  }

  void hand_off(UniqueFd fd) {
    const unsigned target = next_core_;
    next_core_ = (next_core_ + 1) % static_cast<unsigned>(state_->cores.size());
    if (target == this_core()) {
      deliver_here(*state_, target, std::move(fd));
      return;
    }
    state_->runtime.post(target, [state = state_, target, fd = std::move(fd)]() mutable {
      deliver_here(*state, target, std::move(fd));
    });
  }

  static void deliver_here(ShardedState& state, unsigned core, UniqueFd fd) {
    StreamSocket conn = StreamSocket::adopt(this_reactor(), fd.release());
    if (state.options.listen.nodelay && state.address.is_ip()) conn.set_nodelay(true);
    state.deliver(core, std::move(conn));
  }

  std::shared_ptr<ShardedState> state_;
  StreamListener listener_;
  ReadinessWatch watch_;
  Timer backoff_timer_;
  Duration backoff_{0};
  unsigned next_core_ = 0;
  bool stopped_ = false;
  std::coroutine_handle<> waiter_;
  AcceptorGuard guard_;  // last: registered once everything it may stop exists
};

Task<void> run_round_robin(std::shared_ptr<ShardedState> state, StreamListener listener) {
  RoundRobinAcceptor acceptor(std::move(state), std::move(listener));
  if (std::error_code ec = acceptor.start()) {
    this_reactor().log().error("round-robin acceptor: cannot watch the listener: {}", ec.message());
    co_return;
  }
  co_await acceptor.stopped();
}

Result<Address> open_round_robin(const std::shared_ptr<ShardedState>& state, const Address& address) {
  ListenOptions options = state->options.listen;
  options.bind.reuse_port = false;
  auto listener = StreamListener::listen(this_reactor(), address, options);
  if (!listener) return fail(listener.error());
  auto local = listener->local_address();
  if (!local) return fail(local.error());
  state->address = *local;  // before the first hand-off reads it
  this_reactor().spawn(run_round_robin(state, std::move(*listener)));
  return local;
}

void ShardedState::stop_core(unsigned core) noexcept {
  PerCore& slot = cores[core];
  if (slot.listener != nullptr) slot.listener->close();
  if (slot.round_robin != nullptr) slot.round_robin->stop();
}

}  // namespace detail

// -------------------------------------------------------------------------------------------------------------

Task<Result<ShardedListener>> ShardedListener::listen(Runtime& runtime, Address address, ShardedListenOptions options,
                                                      ConnectionHandler handler) {
  auto state = std::make_shared<detail::ShardedState>(runtime, options, handler);
  const unsigned cores = runtime.core_count();
  ShardedListener result(state);

  if (options.distribution == ConnectionDistribution::round_robin) {
    if (options.acceptor_core >= cores) co_return fail(std::make_error_code(std::errc::invalid_argument));
    auto open = runtime.submit_to(options.acceptor_core, [state, address] { return detail::open_round_robin(state, address); });
    auto where = co_await open;
    if (!where) co_return fail(where.error());
    co_return result;
  }

  // SO_REUSEPORT groups are an IP notion: a second Unix socket on the path would replace the first's file.
  if (!address.is_ip()) co_return fail(std::make_error_code(std::errc::address_family_not_supported));

  // The awaitables are named locals, not temporaries of the co_await expression: GCC 12 destroys an
  // init-capture initialised from a function's result twice when its closure is such a temporary (a
  // double free of the BPF program's vector, reproduced in isolation).
  // Core by core, in order: the kernel numbers a reuseport group's sockets in the order they listen.
  Address bind_to = address;
  for (unsigned core = 0; core < cores; ++core) {
    auto open = runtime.submit_to(core, [state, bind_to] { return detail::open_on_this_core(state, bind_to); });
    auto where = co_await open;
    if (!where) {
      result.close();
      co_return fail(where.error());
    }
    if (core == 0) bind_to = *where;  // the others join the port the first one got
  }
  state->address = bind_to;
  if (options.distribution == ConnectionDistribution::reuseport_cpu) {
    std::vector<std::optional<int>> cpus(cores);
    for (unsigned core = 0; core < cores; ++core) cpus[core] = runtime.cpu_of(core);
    auto attach = runtime.submit_to(0, [state, program = cpu_steering_program(cpus)] {
      StreamListener* first = state->cores[0].listener;
      return first != nullptr ? attach_reuseport_program(first->native_handle(), program)
                              : std::make_error_code(std::errc::bad_file_descriptor);
    });
    std::error_code ec = co_await attach;
    if (ec) {
      result.close();
      co_return fail(ec);
    }
  }
  co_return result;
}

const Address& ShardedListener::local_address() const noexcept { return state_->address; }

ConnectionDistribution ShardedListener::distribution() const noexcept { return state_->options.distribution; }

void ShardedListener::close() {
  if (!state_) return;
  for (unsigned core = 0; core < state_->cores.size(); ++core)
    state_->runtime.post(core, [state = state_, core] { state->stop_core(core); });
}

std::vector<std::uint64_t> ShardedListener::accepted_per_core() const {
  std::vector<std::uint64_t> counts;
  if (!state_) return counts;
  for (const auto& slot : state_->cores) counts.push_back(slot.accepted.load(std::memory_order_relaxed));
  return counts;
}

}  // namespace rfarm

#include "reactor/stream/blocking_client.hpp"

#include <optional>
#include <utility>

#include "reactor/stream/buffered_stream.hpp"
#include "reactor/dns/connect_by_name.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm {

struct BlockingClient::State {
  std::unique_ptr<Reactor> reactor;
  std::optional<BufferedStream<StreamSocket>> stream;  // after the reactor: destroyed first
};

namespace {

using Deadline = Clock::time_point;

Deadline deadline_after(Duration timeout) noexcept {
  Deadline now = Clock::now();
  if (timeout >= Deadline::max() - now) return Deadline::max();
  return now + std::max(timeout, Duration::zero());
}

Duration remaining(Deadline deadline) noexcept {
  if (deadline == Deadline::max()) return Duration::max();
  return std::max(deadline - Clock::now(), Duration::zero());
}

// Runs the reactor until op finishes or the deadline passes (nullopt). On a timeout the coroutine frames are
// destroyed, which abandons the I/O they had pending (io_op.hpp): the backend never completes it.
template <class R>
std::optional<R> run_until(Reactor& reactor, MaybeReady<R> op, Deadline deadline) {
  if (op.ready()) return op.await_resume();
  std::optional<R> out;
  Task<void> runner = [](MaybeReady<R> inner, std::optional<R>& result) -> Task<void> {
    result.emplace(co_await std::move(inner));
  }(std::move(op), out);
  runner.handle().resume();
  while (!runner.done()) {
    Deadline now = Clock::now();
    if (now >= deadline) return std::nullopt;
    // run_once takes a wait in nanoseconds; "forever" is a negative wait, not a sum that overflows.
    Duration wait = deadline == Deadline::max() ? Duration(-1) : Duration(deadline - now);
    reactor.run_once(wait);
  }
  runner.handle().promise().take();
  return out;
}

std::unexpected<std::error_code> not_connected() noexcept {
  return std::unexpected(std::make_error_code(std::errc::not_connected));
}

Result<std::unique_ptr<Reactor>> make_private_reactor(const BlockingClientOptions& options) {
  ReactorOptions reactor_options;
  reactor_options.backend = options.backend;
  reactor_options.receive_buffer_size = options.buffer_size;
  reactor_options.receive_buffers_cached = 4;  // one connection: a read and a write buffer, and slack
  reactor_options.uring_entries = 64;
  reactor_options.uring_buffer_ring_entries = 16;
  return Reactor::create(reactor_options);
}

}  // namespace

BlockingClient::BlockingClient(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
BlockingClient::BlockingClient(BlockingClient&&) noexcept = default;
BlockingClient& BlockingClient::operator=(BlockingClient&&) noexcept = default;
BlockingClient::~BlockingClient() = default;

Result<BlockingClient> BlockingClient::connect(std::string_view host, std::uint16_t port, Duration timeout,
                                               const BlockingClientOptions& options) {
  if (auto literal = Address::from_ip(host, port)) return connect(*literal, timeout, options);
  Deadline deadline = deadline_after(timeout);
  auto reactor = make_private_reactor(options);
  if (!reactor) return fail(reactor.error());
  // The resolver lives only while connecting; it is destroyed (before the reactor) when this returns.
  auto resolver = Resolver::create(**reactor, options.resolver);
  if (!resolver) return fail(resolver.error());
  ConnectByNameOptions connect_options;
  connect_options.timeout = std::max(remaining(deadline), Duration(1));  // max() when there is no deadline
  auto connecting = connect_by_name(**reactor, **resolver, std::string(host), port, connect_options);
  auto connected = run_until(**reactor, MaybeReady(std::move(connecting)), deadline);
  if (!connected) return fail(Errc::timed_out);
  if (!*connected) return fail(connected->error());  // (the resolver goes before the reactor)
  return adopt(std::move(*reactor), std::move(**connected), options);
}

Result<BlockingClient> BlockingClient::connect(const Address& address, Duration timeout,
                                               const BlockingClientOptions& options) {
  Deadline deadline = deadline_after(timeout);
  auto reactor = make_private_reactor(options);
  if (!reactor) return fail(reactor.error());
  auto connected =
      run_until(**reactor, MaybeReady(StreamSocket::connect(**reactor, address, remaining(deadline))), deadline);
  if (!connected) return fail(Errc::timed_out);
  if (!*connected) return fail(connected->error());
  return adopt(std::move(*reactor), std::move(**connected), options);
}

BlockingClient BlockingClient::adopt(std::unique_ptr<Reactor> reactor, StreamSocket connected,
                                     const BlockingClientOptions& options) {
  if (options.nodelay) (void)connected.set_nodelay(true);  // best effort: a Unix socket has no Nagle
  auto state = std::make_unique<State>();
  state->reactor = std::move(reactor);
  state->stream.emplace(std::move(connected));
  return BlockingClient(std::move(state));
}

bool BlockingClient::is_open() const noexcept { return state_ && state_->stream && state_->stream->stream().is_open(); }

Result<std::size_t> BlockingClient::read_some(MutableBytes out, Duration timeout) {
  if (!is_open()) return not_connected();
  auto got = run_until(*state_->reactor, state_->stream->read_some(out), deadline_after(timeout));
  if (!got) return fail(Errc::timed_out);
  return *got;
}

Result<std::size_t> BlockingClient::read_exactly(MutableBytes out, Duration timeout) {
  if (!is_open()) return not_connected();
  auto got = run_until(*state_->reactor, state_->stream->read_exactly(out), deadline_after(timeout));
  if (!got) return fail(Errc::timed_out);
  return *got;
}

Result<std::string> BlockingClient::read_line(std::size_t limit, Duration timeout) {
  if (!is_open()) return not_connected();
  auto got = run_until(*state_->reactor, state_->stream->read_line(limit), deadline_after(timeout));
  if (!got) return fail(Errc::timed_out);
  if (!*got) return fail(got->error());
  return std::string(**got);
}

std::error_code BlockingClient::write_all(ConstBytes data, Duration timeout) {
  if (!is_open()) return std::make_error_code(std::errc::not_connected);
  auto write_and_flush = [](BufferedStream<StreamSocket>& stream, ConstBytes bytes) -> Task<std::error_code> {
    if (std::error_code ec = co_await stream.write(bytes)) co_return ec;
    co_return co_await stream.flush();
  };
  auto done = run_until(*state_->reactor, MaybeReady(write_and_flush(*state_->stream, data)), deadline_after(timeout));
  if (!done) return make_error_code(Errc::timed_out);
  return *done;
}

std::error_code BlockingClient::shutdown_send() noexcept {
  if (!is_open()) return std::make_error_code(std::errc::not_connected);
  return state_->stream->stream().shutdown(ShutdownHow::send);
}

void BlockingClient::close() noexcept {
  if (state_) state_->stream.reset();
}

Result<Address> BlockingClient::local_address() const {
  if (!is_open()) return not_connected();
  return state_->stream->stream().local_address();
}

Result<Address> BlockingClient::remote_address() const {
  if (!is_open()) return not_connected();
  return state_->stream->stream().remote_address();
}

BackendKind BlockingClient::backend_kind() const noexcept {
  return state_ ? state_->reactor->backend_kind() : BackendKind::automatic;
}

}  // namespace rfarm

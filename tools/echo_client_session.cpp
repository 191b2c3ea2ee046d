#include "tools/echo_client_session.hpp"

#include <fmt/format.h>

#include <chrono>
#include <type_traits>

#include "reactor/dns/connect_by_name.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/tls/tls_stream.hpp"

namespace rfarm::tools {

namespace {

using std::chrono::steady_clock;

struct Run {
  Reactor& reactor;
  Resolver* resolver;
  const EchoClientOptions& options;
  const TlsContext* tls;
  EchoOutcome& outcome;
};

std::string within(const Run& run) {
  return fmt::format("within {:g} s", std::chrono::duration<double>(run.options.timeout).count());
}

// Bounds one step on a stream: if the step overruns, the stream is closed, so the pending operation ends
// with operation_canceled, and expired() tells that apart from a failure of the peer. Neither StreamSocket
// nor TlsStream has per-read deadlines; a timer that closes is what a read with a timeout is on a loop.
template <class Stream>
class StepDeadline {
 public:
  StepDeadline(Reactor& reactor, Stream& stream, Duration limit) : timer_(reactor), stream_(&stream), limit_(limit) {}
  void start() {
    timer_.start(limit_, [this] {
      expired_ = true;
      stream_->close();
    });
  }
  void stop() noexcept { timer_.cancel(); }
  bool expired() const noexcept { return expired_; }

 private:
  Timer timer_;
  Stream* stream_;
  Duration limit_;
  bool expired_ = false;
};

// Messages one at a time, each echo compared, then the close; "" on success, else what went wrong.
template <class Stream>
Task<std::string> exchange(const Run& run, Stream& stream, int id) {
  const EchoClientOptions& o = run.options;
  StepDeadline<Stream> deadline(run.reactor, stream, o.timeout);
  std::string message(o.size, '\0');
  std::string echo(o.size, '\0');
  for (int m = 0; m < o.messages; ++m) {
    for (std::size_t i = 0; i < o.size; ++i) message[i] = static_cast<char>('a' + (i + m + id) % 26);
    auto start = steady_clock::now();
    deadline.start();
    Result<std::size_t> got = co_await stream.send_all(as_bytes(message));
    if (got) got = co_await stream.recv_exactly(as_writable_bytes(echo));
    deadline.stop();
    if (!got && deadline.expired())
      co_return fmt::format("no echo of message {} {} (the server accepted but does not answer)", m + 1, within(run));
    if (!got) co_return fmt::format("message {}: {}", m + 1, got.error().message());
    run.outcome.round_trips_us.push_back(
        std::chrono::duration<double, std::micro>(steady_clock::now() - start).count());
    if (echo != message) co_return fmt::format("the echo of message {} differs from what was sent", m + 1);
  }
  // Our end of the stream (TLS: close_notify), then the server's.
  deadline.start();
  if constexpr (std::is_same_v<Stream, TlsStream>) {
    if (std::error_code ec = co_await stream.shutdown(); ec && !deadline.expired()) {
      deadline.stop();
      co_return "TLS close: " + ec.message();
    }
  } else {
    stream.shutdown(ShutdownHow::send);
  }
  char tail;
  auto end = co_await stream.recv(MutableBytes(reinterpret_cast<std::byte*>(&tail), 1));
  deadline.stop();
  if (deadline.expired()) co_return "the server did not close " + within(run) + " after our end of stream";
  if (!end) co_return "waiting for the server to close: " + end.error().message();
  if (*end != 0) co_return "the server sent more than the echoes";
  co_return std::string();
}

Task<std::string> exchange_over_tls(const Run& run, StreamSocket socket, int id) {
  const EndpointSpec& e = run.options.connect;
  TlsClientOptions client;
  // The name to verify (and send as SNI): the host as written, or the IP literal without its %scope.
  std::string ip = e.address.ip_string();
  client.server_name = e.has_host_name() ? e.host : ip.substr(0, ip.find('%'));
  auto tls = TlsStream::client(std::move(socket), *run.tls, client);
  if (!tls) co_return "TLS: " + tls.error().message();
  if (std::error_code ec = co_await tls->handshake(run.options.timeout)) {
    if (ec == std::errc::timed_out) co_return "no TLS handshake " + within(run);
    co_return "TLS handshake: " + ec.message();
  }
  co_return co_await exchange(run, *tls, id);
}

Task<Result<StreamSocket>> connect(const Run& run) {
  const EndpointSpec& e = run.options.connect;
  if (e.has_host_name())
    co_return co_await connect_by_name(run.reactor, *run.resolver, e.host, e.port, {.timeout = run.options.timeout});
  co_return co_await StreamSocket::connect(run.reactor, e.address, run.options.timeout);
}

Task<void> run_connection(const Run& run, int id) {
  std::string error;
  auto socket = co_await connect(run);
  if (!socket) {
    error = socket.error() == std::errc::timed_out ? "no connection " + within(run)
                                                   : "connect: " + socket.error().message();
  } else if (run.tls != nullptr) {
    error = co_await exchange_over_tls(run, std::move(*socket), id);
  } else {
    error = co_await exchange(run, *socket, id);
  }
  if (!error.empty() && run.outcome.failed_connections++ == 0) run.outcome.first_error = std::move(error);
}

}  // namespace

EchoOutcome run_echo_connections(Reactor& reactor, Resolver* resolver, const EchoClientOptions& options,
                                 const TlsContext* tls) {
  EchoOutcome outcome;
  Run run{reactor, resolver, options, tls, outcome};
  int remaining = options.conns;
  for (int c = 0; c < options.conns; ++c) {
    reactor.spawn([](const Run& r, int id, int& left) -> Task<void> {
      co_await run_connection(r, id);
      if (--left == 0) r.reactor.stop();
    }(run, c, remaining));
  }
  reactor.run();
  return outcome;
}

}  // namespace rfarm::tools

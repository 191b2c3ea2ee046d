#include "farm/admin/admin.hpp"

#include <fmt/format.h>

#include <functional>
#include <optional>
#include <vector>

#include "farm/client/farm_stream.hpp"
#include "farm/protocol/frame_encoder.hpp"
#include "farm/protocol/frame_reader.hpp"
#include "farm/protocol/handshake.hpp"
#include "farm/values/json.hpp"
#include "lib/error.hpp"
#include "lib/task.hpp"
#include "reactor/dns/resolver.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm::farm::admin {

namespace {

using Deadline = Clock::time_point;

Duration left(Deadline deadline) {
  Duration d = deadline - Clock::now();
  return d.count() > 0 ? d : Duration(1);
}

// One connection that has passed the handshake.
struct Session {
  FarmStream stream;
  FrameReader reader;
  FrameEncoder encoder;
  std::string server_version;
  std::uint32_t cores = 0;
  std::uint32_t workers = 0;
};

// The next frame, with fn deciding whether it is the one wanted (true) or to be skipped; an error on the stream,
// its end, or the deadline is the error.
template <class Fn>
Task<FarmResult<void>> read_until(Reactor& reactor, Session& s, Deadline deadline, Fn fn) {
  for (;;) {
    for (;;) {
      auto frame = s.reader.next();
      if (!frame) co_return fail_with(frame.error(), "bad frame from the server: " + frame.error().message());
      if (!*frame) break;
      if (fn(**frame)) co_return FarmResult<void>{};
    }
    if (Clock::now() >= deadline) co_return fail_with(make_error_code(Errc::timed_out), "no answer in time");
    // Bounded wait: the deadline aborts the socket, and the receive completes.
    TimerId guard = reactor.after(left(deadline), [&s] { s.stream.abort(); });
    auto n = co_await s.stream.recv(s.reader.writable(16 * 1024));
    reactor.cancel(guard);
    if (!n) co_return fail_with(n.error(), Clock::now() >= deadline ? "no answer in time" : n.error().message());
    if (*n == 0) co_return fail_with(make_error_code(Errc::end_of_stream), "the server closed the connection");
    s.reader.commit(*n);
  }
}

Task<FarmResult<Session>> open_session(Reactor& reactor, const EndpointSpec& spec, const AdminOptions& options,
                                       const TlsContext* tls_context, Deadline deadline) {
  Address address = spec.address;
  if (spec.has_host_name()) {
    auto resolver = Resolver::create(reactor);
    if (!resolver) co_return fail_with(resolver.error(), "resolver: " + resolver.error().message());
    auto found = co_await (*resolver)->resolve(spec.host, std::to_string(spec.port));
    if (!found || found->empty())
      co_return fail_with(found ? make_error_code(Errc::no_address) : found.error(),
                          fmt::format("looking up {}: {}", spec.host, found ? "no address" : found.error().message()));
    address = found->front();
  }
  Session s;
  // The handshake too is bounded by the deadline: the guard aborts the stream, whatever step it is at.
  TimerId guard = reactor.after(left(deadline), [&s] { s.stream.abort(); });
  auto connected = co_await connect_farm_stream(reactor, s.stream, spec, address, tls_context, options.tls, left(deadline));
  reactor.cancel(guard);
  if (!connected) co_return std::unexpected(connected.error());
  std::vector<std::byte> hello;
  s.encoder.hello(hello, {.features = kAllFeatures, .client_name = options.client_name,
                          .auth_token = options.auth_token});
  if (auto sent = co_await s.stream.send_all(hello); !sent)
    co_return fail_with(sent.error(), "sending Hello: " + sent.error().message());
  std::optional<Error> refused;
  auto got = co_await read_until(reactor, s, deadline, [&](const FrameView& f) {
    const auto* welcome = f.as<wire::Welcome>();
    if (welcome == nullptr) {
      refused = Error{make_error_code(FarmErrc::unknown_message), "the server's first frame is not a Welcome"};
      return true;
    }
    if (auto granted = check_welcome(*welcome); !granted) {
      refused = granted.error();
      return true;
    }
    if (welcome->server_version() != nullptr) s.server_version = welcome->server_version()->str();
    s.cores = welcome->cores();
    s.workers = welcome->workers();
    return true;
  });
  if (!got) co_return std::unexpected(got.error());
  if (refused) co_return std::unexpected(*refused);
  co_return std::move(s);
}

// Sends a Ping and waits for its Pong: the server has read everything sent before it.
Task<FarmResult<Duration>> ping_pong(Reactor& reactor, Session& s, Deadline deadline) {
  std::vector<std::byte> out;
  constexpr std::uint64_t kNonce = 0x5eed;
  s.encoder.ping(out, kNonce);
  Clock::time_point start = Clock::now();
  if (auto sent = co_await s.stream.send_all(out); !sent)
    co_return fail_with(sent.error(), "sending Ping: " + sent.error().message());
  auto got = co_await read_until(reactor, s, deadline, [&](const FrameView& f) {
    const auto* pong = f.as<wire::Pong>();
    return pong != nullptr && pong->nonce() == kNonce;
  });
  if (!got) co_return std::unexpected(got.error());
  co_return Clock::now() - start;
}

// Where a call goes: the endpoint and, for tls:, the context made from AdminOptions::tls.
struct Target {
  EndpointSpec spec;
  const TlsContext* tls = nullptr;
};

template <class T>
FarmResult<T> run_on_private_reactor(const AdminOptions& options, std::string_view spec_text,
                                     std::function<Task<FarmResult<T>>(Reactor&, const Target&, Deadline)> body) {
  auto spec = EndpointSpec::parse_connect(spec_text);
  if (!spec) return fail_with(spec.error(), fmt::format("{}: {}", spec_text, spec.error().message()));
  if (spec->transport != Transport::tcp && spec->transport != Transport::unix_stream &&
      spec->transport != Transport::tls)
    return fail_with(make_error_code(std::errc::protocol_not_supported),
                     fmt::format("{}: farm-admin speaks tcp:, tls: and unix:", spec_text));
  std::optional<TlsContext> context;
  if (spec->transport == Transport::tls) {
    auto made = make_farm_tls_context(options.tls);
    if (!made) return std::unexpected(made.error());
    context = std::move(*made);
  }
  Target target{std::move(*spec), context ? &*context : nullptr};
  ReactorOptions ro;
  ro.backend = options.backend;
  ro.log_level = LogLevel::error;
  auto reactor = Reactor::create(ro);
  if (!reactor) return fail_with(reactor.error(), "reactor: " + reactor.error().message());
  Deadline deadline = Clock::now() + options.timeout;
  return (*reactor)->block_on(body(**reactor, target, deadline));
}

}  // namespace

FarmResult<PingReply> ping(std::string_view spec, const AdminOptions& options) {
  return run_on_private_reactor<PingReply>(
      options, spec, [&](Reactor& reactor, const Target& target, Deadline deadline) -> Task<FarmResult<PingReply>> {
        Error last{make_error_code(Errc::timed_out), "no attempt"};
        for (Duration pause = std::chrono::milliseconds(10);; pause = std::min<Duration>(pause * 2, 200ms)) {
          auto s = co_await open_session(reactor, target.spec, options, target.tls, deadline);
          if (s) {
            auto rtt = co_await ping_pong(reactor, *s, deadline);
            if (rtt) co_return PingReply{*rtt, s->server_version, s->cores, s->workers};
            last = rtt.error();
          } else {
            last = s.error();
            if (is_refusal(last.code)) co_return std::unexpected(last);  // an answer (TLS or Welcome), not silence
          }
          if (Clock::now() + pause >= deadline)
            co_return fail_with(make_error_code(Errc::timed_out),
                                fmt::format("no answer from {} within {} ms (last: {})", target.spec.to_string(),
                                            std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout).count(),
                                            last.message));
          co_await reactor.sleep(pause);
        }
      });
}

FarmResult<void> end_server(std::string_view spec, const AdminOptions& options) {
  return run_on_private_reactor<void>(
      options, spec, [&](Reactor& reactor, const Target& target, Deadline deadline) -> Task<FarmResult<void>> {
        auto s = co_await open_session(reactor, target.spec, options, target.tls, deadline);
        if (!s) co_return std::unexpected(s.error());
        std::vector<std::byte> out;
        s->encoder.end_server(out, "farm-admin end-server");
        if (auto sent = co_await s->stream.send_all(out); !sent)
          co_return fail_with(sent.error(), "sending EndServer: " + sent.error().message());
        // A Pong after it: the server has read the EndServer. (It may also close at once: that is an answer too.)
        auto rtt = co_await ping_pong(reactor, *s, deadline);
        if (!rtt && rtt.error().code != Errc::end_of_stream && rtt.error().code != std::errc::connection_reset)
          co_return std::unexpected(rtt.error());
        co_return FarmResult<void>{};
      });
}

FarmResult<std::string> info(std::string_view spec, const AdminOptions& options) {
  return run_on_private_reactor<std::string>(
      options, spec, [&](Reactor& reactor, const Target& target, Deadline deadline) -> Task<FarmResult<std::string>> {
        auto s = co_await open_session(reactor, target.spec, options, target.tls, deadline);
        if (!s) co_return std::unexpected(s.error());
        std::vector<std::byte> out;
        s->encoder.submit(out, {.task_id = 1, .task = "info"});
        if (auto sent = co_await s->stream.send_all(out); !sent)
          co_return fail_with(sent.error(), "sending Submit: " + sent.error().message());
        FarmResult<std::string> answer = fail_with(make_error_code(Errc::timed_out), "no answer");
        auto got = co_await read_until(reactor, *s, deadline, [&](const FrameView& f) {
          if (const auto* result = f.as<wire::Result>(); result != nullptr && result->task_id() == 1) {
            ConstBytes v = value_of(*result);
            answer = to_json(flexbuffers::GetRoot(reinterpret_cast<const std::uint8_t*>(v.data()), v.size()));
            return true;
          }
          if (const auto* failure = f.as<wire::Failure>(); failure != nullptr) {
            answer = fail_with(make_error_code(std::errc::io_error),
                               fmt::format("info failed ({}): {}", to_string(from_wire(failure->kind())),
                                           failure->message() ? failure->message()->str() : ""));
            return true;
          }
          return false;
        });
        if (!got) co_return std::unexpected(got.error());
        co_return answer;
      });
}

}  // namespace rfarm::farm::admin

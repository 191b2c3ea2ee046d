#include "farm/server/server_connection.hpp"

#include <cstring>
#include <type_traits>

#include "farm/protocol/frame_encoder.hpp"
#include "farm/protocol/handshake.hpp"
#include "farm/server/farm_server.hpp"
#include "farm/tasks/task_context.hpp"
#include "reactor/runtime/runtime.hpp"

namespace rfarm::farm::detail {

namespace {

constexpr bool is_tls(const TlsStream*) { return true; }
constexpr bool is_tls(const StreamSocket*) { return false; }

FrameReaderOptions reader_options(const FrameLimits& limits) {
  // The reactor's limit counts the payload; the farm's includes the 4-byte prefix.
  return {.prefix = FramePrefix::u32_le, .max_frame_size = limits.max_frame_size - kFramePrefixSize,
          .allow_empty_frames = false};
}

}  // namespace

template <class S>
ServerConnection<S>::ServerConnection(FarmServer& server, CoreState& core, S stream, PeerIdentity peer)
    : server_(server),
      core_(core),
      stream_(std::move(stream)),
      peer_(std::move(peer)),
      state_(is_tls(static_cast<S*>(nullptr)) ? State::tls_handshake : State::await_hello),
      number_(core.next_connection_number++),
      reader_(stream_, reader_options(server.options().frames)),
      send_(stream_),
      deadline_timer_(stream_.reactor()) {
  server_.connection_opened();
  // Past the shutdown deadline the guard closes the connection inside its constructor: enter(closed) then
  // leaves the half-built guard alone, and it goes here.
  constructing_ = true;
  guard_.emplace([this] { close_now("closed at the shutdown deadline", LogLevel::warn); });
  constructing_ = false;
  if (state_ == State::closed) {
    guard_.reset();
    return;
  }
  auto drain = [this] {
    if (state_ == State::serving || state_ == State::await_hello) enter(State::draining);
    else if (state_ == State::tls_handshake) close_now("shutting down during the TLS handshake", LogLevel::info);
  };
  if (guard_->draining()) drain();  // accepted while this core drains: on_drain has run already
  else guard_->on_drain(drain);
  send_.on_error([this](std::error_code ec) { close_now("send: " + ec.message(), LogLevel::info); });
  send_.on_drained([this] { after_output_drained(); });
  // Both timers' callbacks only change state; none destroys the connection inside (the reader holds it).
  deadline_timer_.start(server_.options().limits.handshake_timeout, [this] {
    close_now("no Hello within the handshake timeout", LogLevel::info);
  });
}

template <class S>
ServerConnection<S>::~ServerConnection() {
  if (counted_) server_.connection_closed();
}

template <class S>
Task<void> ServerConnection<S>::serve(std::shared_ptr<ServerConnection> self) {
  ServerConnection& c = *self;
  if constexpr (std::is_same_v<S, TlsStream>) {
    if (std::error_code ec = co_await c.stream_.handshake(); ec) {
      c.close_now("TLS handshake: " + ec.message(), LogLevel::info);
    } else {
      c.peer_ = c.server_.identify_tls_peer(c.stream_);
      if (c.state_ == State::tls_handshake) c.enter(State::await_hello);
    }
  }
  c.last_input_ = Clock::now();
  while (c.state_ != State::closed) {
    if (!c.reading() || c.reading_paused()) {
      co_await Wait{c};
      continue;
    }
    auto frames = co_await c.reader_.next_batch([&c](ConstBytes payload) { c.on_frame(payload); });
    c.last_input_ = Clock::now();
    c.flush_output();
    if (c.state_ == State::closed) break;
    if (!frames) {
      const std::error_code ec = frames.error();
      if (ec == std::errc::operation_canceled) break;
      if (ec == Errc::frame_too_large || ec == Errc::empty_frame) {
        c.protocol_error(ec == Errc::empty_frame ? std::string("a frame of length 0")
                                                 : "a frame larger than the maximum of " +
                                                       std::to_string(c.server_.options().frames.max_frame_size) + " bytes");
      } else if (ec == Errc::truncated_frame) {
        c.close_now("the client closed in the middle of a frame", LogLevel::warn);
      } else {
        c.close_now("receive: " + ec.message(), LogLevel::info);
      }
      c.input_done_ = true;  // the framing is lost: nothing more is read
    } else if (*frames == 0) {
      c.on_end_of_input();
    }
  }
}

template <class S>
void ServerConnection<S>::enter(State next) {
  state_ = next;
  switch (next) {
    case State::tls_handshake:
      return;
    case State::await_hello:
      return;  // the handshake deadline armed at accept still runs
    case State::serving:
      deadline_timer_.cancel();
      arm_idle_timer();
      return;
    case State::draining:
      deadline_timer_.cancel();
      maybe_finish_draining();
      return;
    case State::closed: {
      deadline_timer_.cancel();
      if (stall_timer_) stall_timer_->cancel();  // not released: this may run inside its callback
      Logger& log = stream_.reactor().log();
      if (log.enabled(close_level_))
        log.log(close_level_, "farm-server: connection {}.{} ({}) closed: {}", this_core(), number_, peer_name(),
                close_reason_.empty() ? "closed" : close_reason_);
      stream_.close();  // pending receive and send complete with operation_canceled
      cancel_queued_tasks();
      output_.clear();
      if (!constructing_) guard_.reset();
      if (std::exchange(counted_, false)) server_.connection_closed();
      wake();
      return;
    }
  }
}

template <class S>
void ServerConnection<S>::close_now(std::string reason, LogLevel level) {
  if (state_ == State::closed) return;
  close_reason_ = std::move(reason);
  close_level_ = level;
  enter(State::closed);
}

template <class S>
void ServerConnection<S>::finish_after_output(std::string reason, LogLevel level) {
  if (state_ == State::closed) return;
  input_done_ = true;
  close_reason_ = std::move(reason);
  close_level_ = level;
  if (state_ == State::draining) {
    maybe_finish_draining();
  } else {
    enter(State::draining);
  }
}

template <class S>
void ServerConnection<S>::protocol_error(std::string why) {
  if (state_ == State::closed || input_done_) return;
  send_failure(0, FailureKind::protocol_error, why, {});
  flush_output();
  finish_after_output("protocol error: " + why, LogLevel::warn);
}

template <class S>
bool ServerConnection<S>::reading() const noexcept {
  return !input_done_ && (state_ == State::await_hello || state_ == State::serving || state_ == State::draining);
}

template <class S>
bool ServerConnection<S>::reading_paused() const noexcept {
  const ConnectionLimits& limits = server_.options().limits;
  return in_flight_ >= limits.max_tasks_in_flight || send_.queued_bytes() > limits.max_queued_output;
}

template <class S>
ConstBytes ServerConnection<S>::aligned_frame(ConstBytes payload) {
  // The reactor's FrameReader keeps each frame's length prefix right in front of its payload, in the same
  // buffer (frame_reader.hpp), so the whole frame is there to verify in place when it starts 8-byte aligned.
  const std::byte* start = payload.data() - kFramePrefixSize;
  const std::size_t size = payload.size() + kFramePrefixSize;
  if (reinterpret_cast<std::uintptr_t>(start) % kFrameAlignment == 0) return {start, size};
  // A peer whose frames are not multiples of 8 bytes (allowed: PROTOCOL.md, Framing) shifts the next ones.
  auto& scratch = core_.aligned_scratch;
  if (scratch.size() * sizeof(std::uint64_t) < size) scratch.resize((size + 7) / 8);
  std::memcpy(scratch.data(), start, size);
  return {reinterpret_cast<const std::byte*>(scratch.data()), size};
}

template <class S>
void ServerConnection<S>::on_frame(ConstBytes payload) {
  if (!reading()) return;  // a frame after a protocol error in the same batch
  Result<FrameView> view = decode_frame(aligned_frame(payload), server_.options().frames);
  if (!view) return protocol_error("unacceptable frame: " + view.error().message());
  if (state_ == State::await_hello) {
    if (const auto* hello = view->as<wire::Hello>()) return on_hello(*hello);
    return protocol_error("the first frame must be a Hello, not " + std::string(wire::EnumNameMessage(view->type())));
  }
  switch (view->type()) {
    case wire::Message::Submit: return on_submit(*view->as<wire::Submit>());
    case wire::Message::Ping: core_.encoder.pong(output_, view->as<wire::Ping>()->nonce()); return;
    case wire::Message::Cancel: return on_cancel(*view->as<wire::Cancel>());
    case wire::Message::EndServer: {
      const auto* end = view->as<wire::EndServer>();
      server_.end_server(end->reason() != nullptr ? end->reason()->string_view() : std::string_view{});
      return;
    }
    case wire::Message::ModuleTransfer: return on_module_transfer(*view->as<wire::ModuleTransfer>());
    default:
      return protocol_error("a client does not send " + std::string(wire::EnumNameMessage(view->type())));
  }
}

template <class S>
void ServerConnection<S>::on_hello(const wire::Hello& hello) {
  HandshakeDecision decision = answer_hello(hello, {.features = server_.features_for(peer_)});
  if (decision.accepted && !peer_.refusal.empty()) {
    decision.accepted = false;
    decision.reason = peer_.refusal;
  }
  const FarmServerOptions& options = server_.options();
  core_.encoder.welcome(output_, {.accepted = decision.accepted,
                                  .reason = decision.reason,
                                  .features = decision.accepted ? decision.features : 0,
                                  .server_version = options.version,
                                  .max_frame_size = static_cast<std::uint32_t>(options.frames.max_frame_size),
                                  .cores = server_.cores(),
                                  .workers = server_.workers()});
  if (!decision.accepted) return finish_after_output("refused: " + decision.reason, LogLevel::warn);
  features_ = decision.features;
  enter(State::serving);
}

template <class S>
void ServerConnection<S>::on_module_transfer(const wire::ModuleTransfer& transfer) {
  auto text = [](const flatbuffers::String* s) { return s != nullptr ? s->string_view() : std::string_view{}; };
  const std::uint64_t id = transfer.transfer_id();
  const std::string_view sha256 = text(transfer.sha256());
  auto refuse = [&](std::string_view why) {
    core_.encoder.module_ack(output_, {.transfer_id = id, .accepted = false, .sha256 = sha256,
                                       .kind = FailureKind::module_error, .message = why});
  };
  if ((features_ & feature_bit(wire::Feature::modules)) == 0) {
    return refuse(server_.options().accept_modules
                      ? "modules are accepted only from authenticated clients (a TLS client certificate or Unix "
                        "credentials on the allow-list)"
                      : "this server does not accept modules (started without --accept-modules)");
  }
  if (state_ == State::draining) return refuse("the server is shutting down");
  // Storing and loading block (file writes, dlopen): a worker does it, with its own copy of the bytes.
  const ConstBytes bytes = bytes_of(transfer);
  std::vector<std::byte> owned(bytes.begin(), bytes.end());
  ++in_flight_;
  server_.runtime().offload(
      [server = &server_, owned = std::move(owned), source = std::string(text(transfer.name())),
       sha = std::string(sha256)] { return server->install_module(ConstBytes(owned), source, sha); },
      [self = this->shared_from_this(), id, sha = std::string(sha256)](
          OffloadResult<FarmResult<FarmServer::ModuleInstall>> done) {
        self->on_module_installed(id, sha, std::move(done));
      });
}

template <class S>
void ServerConnection<S>::on_module_installed(std::uint64_t transfer_id, const std::string& sha256,
                                              OffloadResult<FarmResult<FarmServer::ModuleInstall>> done) {
  if (state_ != State::closed) {
    if (done && *done) {
      const FarmServer::ModuleInstall& install = **done;
      if (install.table) core_.publish(install.table, install.version);  // before this client's next Submit
      const ModuleInfo& info = install.module.info;
      core_.encoder.module_ack(output_, {.transfer_id = transfer_id, .accepted = true,
                                         .already_loaded = !install.module.newly_loaded, .sha256 = info.sha256,
                                         .module_name = info.name, .tasks = info.tasks});
      stream_.reactor().log().info("farm-server: module {} ({}) {}", info.name, info.sha256,
                                   install.module.newly_loaded ? "loaded" : "was loaded already");
    } else {
      const std::string why = done ? (*done).error().message : std::string("the worker failed to load it");
      core_.encoder.module_ack(output_, {.transfer_id = transfer_id, .accepted = false, .sha256 = sha256,
                                         .kind = FailureKind::module_error, .message = why});
      stream_.reactor().log().warn("farm-server: module refused: {}", why);
    }
    stream_.reactor().at_end_of_turn(flush_hook_);
  }
  task_finished();
}

template <class S>
void ServerConnection<S>::on_end_of_input() {
  input_done_ = true;
  if (state_ == State::closed) return;
  if (in_flight_ == 0 && send_.idle() && output_.empty()) return close_now("the client closed the connection", LogLevel::info);
  // A client that half-closed still gets the answers of what it submitted.
  finish_after_output("the client closed the connection", LogLevel::info);
}

template <class S>
void ServerConnection<S>::flush_output() {
  if (output_.empty() || state_ == State::closed) return;
  send_.push(std::move(output_));
  output_ = {};
  if (send_.queued_bytes() > server_.options().limits.max_queued_output && !stall_timer_armed()) {
    start_stall_timer([this] {
      close_now("the client does not read its answers (" + std::to_string(send_.queued_bytes()) +
                    " bytes queued past the write-stall timeout)",
                LogLevel::warn);
    });
  }
}

template <class S>
void ServerConnection<S>::after_output_drained() {
  if (state_ == State::serving) stall_timer_.reset();  // drained: the timer goes (runs from the send queue)
  maybe_finish_draining();
  wake();
}

template <class S>
void ServerConnection<S>::maybe_finish_draining() {
  if (state_ != State::draining || in_flight_ != 0) return;  // tasks take as long as they take
  if (!output_.empty() || !send_.idle()) {
    // Only the answers are left: they must leave within the stall timeout, whether or not the client reads.
    if (!stall_timer_armed())
      start_stall_timer([this] {
        close_now("the client does not read its last answers (write-stall timeout)", LogLevel::warn);
      });
    return;
  }
  if (close_reason_.empty()) close_reason_ = "drained for shutdown";
  enter(State::closed);
}

template <class S>
void ServerConnection<S>::start_stall_timer(InplaceFunction<void()> on_stall) {
  if (!stall_timer_) stall_timer_ = std::make_unique<Timer>(stream_.reactor());
  stall_timer_->start(server_.options().limits.write_stall_timeout, std::move(on_stall));
}

template <class S>
void ServerConnection<S>::arm_idle_timer() {
  const Duration idle = server_.options().limits.idle_timeout;
  if (state_ != State::serving || idle.count() <= 0 || deadline_timer_.armed()) return;
  deadline_timer_.start(idle, [this] { on_idle_timer(); });
}

template <class S>
void ServerConnection<S>::on_idle_timer() {
  if (state_ != State::serving || in_flight_ != 0) return;  // re-armed when the last task comes back
  const Duration idle = server_.options().limits.idle_timeout;
  const Duration quiet = Clock::now() - last_input_;
  if (quiet >= idle && send_.idle()) return close_now("idle past the idle timeout", LogLevel::info);
  deadline_timer_.start(quiet >= idle ? idle : idle - quiet, [this] { on_idle_timer(); });
}

template <class S>
std::string ServerConnection<S>::peer_name() const {
  const StreamSocket* socket;
  if constexpr (std::is_same_v<S, TlsStream>) {
    socket = &const_cast<TlsStream&>(stream_).socket();
  } else {
    socket = &stream_;
  }
  auto address = socket->remote_address();
  if (!address) return "?";
  std::string text = address->to_string();
  return text.empty() ? "local peer" : text;
}

template <class S>
void ServerConnection<S>::wake() noexcept {
  if (waiter_) stream_.reactor().at_end_of_turn(wake_hook_);
}

template <class S>
void ServerConnection<S>::resume_waiter(TurnHook& hook) noexcept {
  auto& self = *static_cast<Hook&>(hook).connection;
  if (auto waiter = std::exchange(self.waiter_, {})) waiter.resume();  // may end the coroutine and the connection
}

template <class S>
void ServerConnection<S>::flush_at_end_of_turn(TurnHook& hook) noexcept {
  static_cast<Hook&>(hook).connection->flush_output();
}

template class ServerConnection<StreamSocket>;
template class ServerConnection<TlsStream>;

}  // namespace rfarm::farm::detail

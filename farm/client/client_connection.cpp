#include "farm/client/client_connection.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>

#include "farm/protocol/frame_decoder.hpp"
#include "farm/protocol/handshake.hpp"
#include "lib/error.hpp"

namespace rfarm::farm {

namespace {

constexpr std::size_t kReceiveChunk = 64 * 1024;

std::string milliseconds(Duration d) {
  return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

}  // namespace

std::string_view to_string(ClientConnection::State state) noexcept {
  switch (state) {
    case ClientConnection::State::connecting: return "connecting";
    case ClientConnection::State::handshaking: return "handshaking";
    case ClientConnection::State::ready: return "ready";
    case ClientConnection::State::backing_off: return "backing_off";
    case ClientConnection::State::closed: return "closed";
  }
  return "?";
}

ClientConnection::ClientConnection(Reactor& reactor, ConnectionEvents& events, const KernelOptions& options,
                                   ConnectionId id, EndpointSpec spec, Address address, std::size_t group,
                                   const TlsContext* tls_context)
    : reactor_(reactor),
      events_(events),
      options_(options),
      id_(id),
      spec_(std::move(spec)),
      address_(std::move(address)),
      group_(group),
      name_(spec_.has_host_name() ? fmt::format("{} at {}", spec_.to_string(), address_.to_string())
                                  : spec_.to_string()),
      tls_context_(tls_context),
      window_(std::max<std::size_t>(options.window, 1)),
      heartbeat_(reactor),
      rng_(static_cast<std::uint32_t>(std::random_device{}()) ^ id),
      sleep_timer_(reactor) {}

ClientConnection::~ClientConnection() { close_socket(); }

void ClientConnection::start() {
  running_ = true;
  reactor_.spawn(run());
}

void ClientConnection::stop() {
  if (stop_requested_) return;
  stop_requested_ = true;
  if (!running_) return;
  stream_.abort();  // a pending connect, handshake, send or receive completes with operation_canceled
  if (sleeper_) sleep_timer_.start(Duration(0), [this] { std::exchange(sleeper_, {}).resume(); });
}

std::uint64_t ClientConnection::sends_started() const noexcept {
  return sends_before_ + (send_queue_ ? send_queue_->sends_started() : 0);
}

void ClientConnection::transition(State next) {
  const State from = state_;
  if (from == next) return;
  state_ = next;
  if (from == State::ready) {  // leaving service: the socket is gone, and with it every task in flight here
    heartbeat_.cancel();
    if (stop_requested_) reactor_.log().debug("farm: connection to {} closed", name_);
    else reactor_.log().warn("farm: connection to {} lost: {}", name_, last_error_);
    close_socket();
    in_flight_ = 0;
    modules_loading_ = 0;
    events_.on_lost(*this);
  }
  switch (next) {
    case State::connecting: break;
    case State::handshaking: break;
    case State::ready:
      failures_ = 0;
      refusal_.clear();
      ping_outstanding_ = false;
      last_frame_ = Clock::now();
      ++sessions_;
      arm_heartbeat();
      reactor_.log().info("farm: connected to {}", name_);
      events_.on_ready(*this);
      break;
    case State::backing_off:
      if (from != State::ready)
        reactor_.log().debug("farm: cannot reach {} ({}); retrying", name_, last_error_);
      close_socket();
      ++failures_;
      break;
    case State::closed:
      heartbeat_.cancel();
      close_socket();
      events_.on_closed(*this);
      break;
  }
}

void ClientConnection::close_socket() noexcept {
  if (send_queue_) {
    sends_before_ += send_queue_->sends_started();
    send_queue_.reset();
  }
  stream_.close();
  out_.clear();
}

Task<void> ClientConnection::run() {
  while (!stop_requested_) {
    transition(State::connecting);
    std::error_code ec = co_await connect_once();
    if (!ec && !stop_requested_) {
      transition(State::handshaking);
      ec = co_await handshake();
    }
    if (!ec && !stop_requested_) {
      send_queue_ = stream_.make_send_queue();
      send_queue_->on_error([this](std::error_code e) {
        last_error_ = "send failed: " + e.message();
        stream_.abort();
      });
      transition(State::ready);
      co_await serve();
    }
    if (stop_requested_) break;
    if (ec && is_refusal(ec)) {
      // An answer, not silence: whoever waits for this server hears why (KernelCore fails tasks that no server
      // will take). It keeps trying, in case the server's allow-list or our certificate changes.
      if (refusal_ != last_error_) reactor_.log().warn("farm: {} refused us: {}", name_, last_error_);
      refusal_ = last_error_.empty() ? ec.message() : last_error_;
      events_.on_refused(*this);
    }
    transition(State::backing_off);
    co_await back_off();
  }
  transition(State::closed);
}

Task<std::error_code> ClientConnection::connect_once() {
  last_error_.clear();
  if (stop_requested_) co_return make_error_code(std::errc::operation_canceled);
  auto connected = co_await connect_farm_stream(reactor_, stream_, spec_, address_, tls_context_, options_.tls,
                                                options_.connect_timeout);
  if (!connected) {
    last_error_ = connected.error().message;
    co_return connected.error().code;
  }
  co_return std::error_code{};
}

Task<std::error_code> ClientConnection::handshake() {
  reader_ = FrameReader();
  std::vector<std::byte> hello;
  if (std::error_code ec = encoder_.hello(hello, {.features = kAllFeatures,
                                                  .client_name = options_.client_name,
                                                  .auth_token = options_.auth_token})) {
    last_error_ = "encoding Hello: " + ec.message();
    co_return ec;
  }
  // A server that accepts and never answers (frozen) must not hold the connection forever.
  heartbeat_.start(options_.connect_timeout, [this] {
    last_error_ = "no Welcome within " + milliseconds(options_.connect_timeout);
    stream_.abort();
  });
  auto sent = co_await stream_.send_all(hello);
  std::error_code ec;
  if (!sent) {
    last_error_ = "sending Hello: " + sent.error().message();
    ec = sent.error();
  }
  while (!ec) {
    auto n = co_await stream_.recv(reader_.writable(4096));
    if (!n || *n == 0) {
      ec = n ? make_error_code(Errc::end_of_stream) : n.error();
      if (last_error_.empty() || n) last_error_ = "waiting for Welcome: " + ec.message();
      break;
    }
    reader_.commit(*n);
    auto frame = reader_.next();
    if (!frame) {
      ec = frame.error();
      last_error_ = "bad frame from server: " + ec.message();
      break;
    }
    if (!*frame) continue;
    const auto* welcome = (*frame)->as<wire::Welcome>();
    if (welcome == nullptr) {
      ec = make_error_code(FarmErrc::unknown_message);
      last_error_ = "the server's first frame is not a Welcome";
      break;
    }
    auto granted = check_welcome(*welcome);
    if (!granted) {
      ec = granted.error().code;
      last_error_ = granted.error().message;
      reactor_.log().warn("farm: {} refused the connection: {}", name_, last_error_);
      break;
    }
    features_ = *granted;
    if (welcome->max_frame_size() != 0) encoder_ = FrameEncoder(welcome->max_frame_size());
    break;
  }
  heartbeat_.cancel();
  co_return ec;
}

Task<void> ClientConnection::serve() {
  for (;;) {
    for (;;) {  // frames buffered (some may have come with the Welcome)
      auto frame = reader_.next();
      if (!frame) {
        last_error_ = "bad frame from server: " + frame.error().message();
        co_return;
      }
      if (!*frame) break;
      if (!handle_frame(**frame)) co_return;
    }
    auto n = co_await stream_.recv(reader_.writable(kReceiveChunk));
    if (!n || *n == 0) {
      if (n) last_error_ = "the server closed the connection";
      else if (n.error() != std::errc::operation_canceled || last_error_.empty())
        last_error_ = n.error().message();
      co_return;
    }
    reader_.commit(*n);
    last_frame_ = reactor_.now();
  }
}

bool ClientConnection::handle_frame(const FrameView& frame) {
  if (const auto* result = frame.as<wire::Result>()) {
    ConstBytes value = value_of(*result);
    const auto* first = reinterpret_cast<const std::uint8_t*>(value.data());
    events_.on_answer(*this, result->task_id(), TaskResult(std::vector<std::uint8_t>(first, first + value.size())));
    return true;
  }
  if (const auto* failure = frame.as<wire::Failure>()) {
    RemoteFailure f{from_wire(failure->kind()), failure->message() ? failure->message()->str() : std::string(),
                    failure->task() ? failure->task()->str() : std::string()};
    if (failure->task_id() == 0) {
      last_error_ = fmt::format("the server reports a protocol error: {}", f.message);
      return false;
    }
    events_.on_answer(*this, failure->task_id(), std::unexpected(std::move(f)));
    return true;
  }
  if (const auto* ping = frame.as<wire::Ping>()) {
    encoder_.pong(out_, ping->nonce());
    flush();
    return true;
  }
  if (const auto* ack = frame.as<wire::ModuleAck>()) {
    events_.on_module_ack(*this, *ack);
    return true;
  }
  if (frame.as<wire::Pong>() != nullptr) {
    ping_outstanding_ = false;
    return true;
  }
  last_error_ = fmt::format("unexpected message {} from the server", wire::EnumNameMessage(frame.type()));
  return false;
}

void ClientConnection::arm_heartbeat() {
  heartbeat_.start(options_.heartbeat_interval, [this] { on_heartbeat(); });
}

void ClientConnection::on_heartbeat() {
  if (state_ != State::ready) return;
  Duration silent = Clock::now() - last_frame_;
  if ((in_flight_ > 0 || ping_outstanding_) && silent >= options_.heartbeat_timeout) {
    last_error_ = fmt::format("no frame for {} with {} tasks outstanding: declared dead", milliseconds(silent),
                              in_flight_);
    stream_.abort();  // serve() ends; leaving ready moves the tasks
    return;
  }
  if (silent >= options_.heartbeat_interval && !ping_outstanding_) {
    ping_outstanding_ = true;
    encoder_.ping(out_, next_nonce_++);
    flush();
  }
  arm_heartbeat();
}

Task<void> ClientConnection::back_off() {
  Duration limit = options_.backoff.initial;
  for (unsigned i = 1; i < failures_ && limit < options_.backoff.max; ++i) limit *= 2;
  limit = std::min(limit, options_.backoff.max);
  std::uniform_int_distribution<Duration::rep> jitter(limit.count() / 2, std::max<Duration::rep>(limit.count(), 1));
  Duration delay(jitter(rng_));

  struct Sleep {
    ClientConnection* self;
    Duration delay;
    bool await_ready() const noexcept { return self->stop_requested_; }
    void await_suspend(std::coroutine_handle<> h) {
      self->sleeper_ = h;
      self->sleep_timer_.start(delay, [s = self] { std::exchange(s->sleeper_, {}).resume(); });
    }
    void await_resume() const noexcept {}
  };
  co_await Sleep{this, delay};
}

void ClientConnection::queue_submit(const TaskRecord& record) {
  // A deadline only for a server that enforces them (PROTOCOL.md: a server ignores fields it does not grant, but
  // the Welcome is the contract).
  const bool deadlines = (features_ & feature_bit(wire::Feature::deadlines)) != 0;
  const std::uint32_t deadline_ms = deadlines ? record.policy.server_deadline_ms : 0;
  std::uint32_t flags = record.broadcast ? static_cast<std::uint32_t>(wire::SubmitFlags::broadcast) : 0;
  std::error_code ec = encoder_.submit(out_, {.task_id = record.id,
                                              .task = record.task,
                                              .args = std::as_bytes(std::span(record.args)),
                                              .deadline_ms = deadline_ms,
                                              .flags = flags});
  ++in_flight_;
  if (ec) {  // too large for a frame: answered at once, locally
    events_.on_answer(*this, record.id,
                      std::unexpected(RemoteFailure{FailureKind::bad_arguments,
                                                    "the arguments do not fit in one frame: " + ec.message(),
                                                    record.task}));
  }
}

std::error_code ClientConnection::queue_module(std::uint64_t transfer_id, std::string_view name,
                                               std::string_view sha256, std::span<const std::byte> bytes) {
  return encoder_.module_transfer(out_, {.transfer_id = transfer_id, .name = name, .sha256 = sha256, .bytes = bytes});
}

bool ClientConnection::queue_cancel(std::uint64_t id) {
  if (state_ != State::ready || (features_ & feature_bit(wire::Feature::cancel)) == 0) return false;
  return !encoder_.cancel(out_, id);
}

void ClientConnection::queue_end_server(std::string_view reason) { encoder_.end_server(out_, reason); }

void ClientConnection::flush() {
  if (out_.empty() || !send_queue_) return;
  send_queue_->push(std::move(out_));
  out_ = {};
}

}  // namespace rfarm::farm

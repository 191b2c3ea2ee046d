#include "reactor/tls/tls_state.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "reactor/tls/tls_error_map.hpp"
#include "reactor/tls/tls_internal.hpp"

namespace rfarm::detail {

// The BIO between OpenSSL and a TlsState: a source/sink whose ends are TlsState::bio_read / bio_write.
struct TlsBio {
  static BIO_METHOD* method() noexcept {
    // Created once, immutable afterwards and kept for the life of the process (OpenSSL's own methods are too).
    static BIO_METHOD* const m = make();
    return m;
  }

  static BIO_METHOD* make() noexcept {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "rfarm stream socket");
    if (m == nullptr) return nullptr;
    BIO_meth_set_read_ex(m, &read);
    BIO_meth_set_write_ex(m, &write);
    BIO_meth_set_ctrl(m, &ctrl);
    BIO_meth_set_create(m, &create);
    return m;
  }

  static int create(BIO* bio) {
    BIO_set_init(bio, 1);
    return 1;
  }

  static TlsState* state(BIO* bio) noexcept { return static_cast<TlsState*>(BIO_get_data(bio)); }

  // BIO_meth_new(3): read_ex/write_ex return 1 on success; 0 with the retry flag set means "try again later",
  // 0 without it is end of stream (when BIO_CTRL_EOF says so) or an error.
  static int read(BIO* bio, char* out, std::size_t len, std::size_t* done) {
    BIO_clear_retry_flags(bio);
    TlsState* s = state(bio);
    int r = s ? s->bio_read(out, len, done) : -1;
    if (r == 0) BIO_set_retry_read(bio);
    return r > 0 ? 1 : 0;
  }

  static int write(BIO* bio, const char* in, std::size_t len, std::size_t* done) {
    BIO_clear_retry_flags(bio);
    TlsState* s = state(bio);
    return s && s->bio_write(in, len, done) > 0 ? 1 : 0;
  }

  static long ctrl(BIO* bio, int cmd, long, void*) {
    TlsState* s = state(bio);
    return s ? s->bio_ctrl(cmd) : 0;
  }
};

Result<std::unique_ptr<TlsState>> TlsState::create(StreamSocket socket, const TlsContext& context) {
  if (!socket.is_open()) return rfarm::fail(std::make_error_code(std::errc::bad_file_descriptor));
  if (context.native_handle() == nullptr) return rfarm::fail(make_tls_error(TlsErrc::invalid_configuration));
  ERR_clear_error();
  BIO_METHOD* method = TlsBio::method();
  if (method == nullptr) return rfarm::fail(tls_config_error());
  SSL* ssl = SSL_new(context.native_handle());
  if (ssl == nullptr) return rfarm::fail(tls_config_error());
  BIO* bio = BIO_new(method);
  if (bio == nullptr) {
    SSL_free(ssl);
    return rfarm::fail(tls_config_error());
  }
  auto state = std::make_unique<TlsState>(std::move(socket), ssl, context);
  BIO_set_data(bio, state.get());
  SSL_set_bio(ssl, bio, bio);  // SSL_set_bio(3): one BIO for both directions takes one reference
  SSL_set_ex_data(ssl, tls_state_index(), state.get());
  SSL_set_info_callback(ssl, &TlsState::on_info);
  if (context.is_server()) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  return state;
}

TlsState::TlsState(StreamSocket socket, SSL* ssl, TlsContext context) noexcept
    : ssl_(ssl), reactor_(&socket.reactor()), context_(std::move(context)), socket_(std::move(socket)) {}

TlsState::~TlsState() {
  if (alive_ != nullptr) *alive_ = false;
  // Parked operations finish with operation_canceled later in the turn, like a closed socket's.
  auto orphan = [this](IntrusiveList<TlsOp>& list) {
    while (!list.empty()) {
      TlsOp& op = list.pop_front();
      op.stream = nullptr;
      reactor_->at_end_of_turn(op.later);
    }
  };
  orphan(waiters_);
  if (waking_ != nullptr) orphan(*waking_);
  SSL_free(ssl_);  // frees the BIO too; sends nothing
}

// --- ciphertext in ------------------------------------------------------------------------------------------

void TlsState::need_input() noexcept {
  if (recv_in_flight_ || input_eof_ || recv_error_) return;
  recv_in_flight_ = true;
  socket_.async_recv_pooled([this](Result<PooledBuffer> received) { on_received(std::move(received)); });
}

bool TlsState::input_ready() const noexcept {
  return SSL_pending(ssl_) > 0 || !input_.empty() || input_eof_ || recv_error_ || failure_;
}

void TlsState::on_received(Result<PooledBuffer> received) noexcept {
  recv_in_flight_ = false;
  if (!received) {
    recv_error_ = received.error();
  } else if (received->empty()) {
    input_eof_ = true;
  } else {
    ++counters_.receives;
    counters_.bytes_in += received->size();
    input_.push_back(std::move(*received));
  }
  wake_all();
}

int TlsState::bio_read(char* out, std::size_t len, std::size_t* done) noexcept {
  std::size_t copied = 0;
  std::size_t used = 0;
  while (copied < len && used < input_.size()) {
    PooledBuffer& front = input_[used];
    std::size_t take = std::min(len - copied, front.size());
    std::memcpy(out + copied, front.data(), take);
    front.consume(take);
    copied += take;
    if (front.empty()) ++used;
  }
  input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(used));  // back to the pool
  *done = copied;
  if (copied > 0) return 1;
  if (recv_error_ || input_eof_) return -1;
  return 0;
}

// --- ciphertext out -----------------------------------------------------------------------------------------

int TlsState::bio_write(const char* in, std::size_t len, std::size_t* done) noexcept {
  *done = 0;
  if (send_error_) return -1;
  for (std::size_t left = len; left > 0;) {
    // Appending behind bytes already in flight is safe: a send covers only the range it was started with.
    if (output_.empty() || output_.back().writable().empty()) output_.push_back(reactor_->receive_pool().acquire());
    MutableBytes room = output_.back().writable();
    std::size_t take = std::min(left, room.size());
    std::memcpy(room.data(), in, take);
    output_.back().commit(take);
    in += take;
    left -= take;
  }
  produced_ += len;
  ++counters_.record_writes;
  *done = len;
  flush_soon();
  return 1;
}

long TlsState::bio_ctrl(int cmd) noexcept {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;  // records leave at the end of the turn; OpenSSL fails the handshake on 0
    case BIO_CTRL_EOF: return input_eof_ && input_.empty() ? 1 : 0;  // tells truncation apart from errors
    case BIO_CTRL_PENDING: {
      std::size_t n = 0;
      for (const PooledBuffer& b : input_) n += b.size();
      return static_cast<long>(n);
    }
    default: return 0;
  }
}

void TlsState::flush_soon() noexcept {
  if (!output_.empty() && !send_in_flight_) reactor_->at_end_of_turn(flush_hook_);
}

void TlsState::run_flush(TurnHook& hook) noexcept { static_cast<Hook&>(hook).state->start_send(); }

void TlsState::start_send() noexcept {
  if (send_in_flight_ || output_.empty()) return;
  iovecs_.clear();
  for (const PooledBuffer& b : output_) {
    if (iovecs_.size() == IOV_MAX) break;  // one sendmsg takes at most IOV_MAX buffers; the rest go next
    iovecs_.push_back({b.data(), b.size()});
  }
  send_in_flight_ = true;
  ++counters_.sends;
  socket_.async_send_all(std::span<iovec>(iovecs_), [this](Result<std::size_t> sent) { on_sent(sent); });
}

void TlsState::on_sent(Result<std::size_t> sent) noexcept {
  send_in_flight_ = false;
  if (!sent) {
    send_error_ = sent.error();
    output_.clear();  // the connection is broken: nothing queued can leave any more
    wake_all();
    return;
  }
  std::size_t left = *sent;  // send_all: every byte of the iovecs, or an error
  counters_.bytes_out += left;
  sent_ += left;
  std::size_t done = 0;
  while (left > 0 && done < output_.size()) {
    PooledBuffer& b = output_[done];
    std::size_t take = std::min(left, b.size());
    b.consume(take);
    left -= take;
    if (!b.empty()) break;
    ++done;
  }
  output_.erase(output_.begin(), output_.begin() + static_cast<std::ptrdiff_t>(done));
  start_send();  // whatever was written meanwhile leaves now, in one send
  wake_all();
}

// --- parked operations ----------------------------------------------------------------------------------------

void tls_park(TlsState& stream, TlsOp& op) noexcept { stream.park(op); }
Reactor& tls_reactor(TlsState& stream) noexcept { return stream.reactor(); }

void TlsState::note_progress() noexcept {
  if (!waiters_.empty()) reactor_->at_end_of_turn(wake_hook_);
}

void TlsState::run_wake(TurnHook& hook) noexcept { static_cast<Hook&>(hook).state->wake_all(); }

void TlsState::wake_all() noexcept {
  if (waiters_.empty()) return;
  if (waking_ != nullptr) {  // called from an operation being woken: run the newly parked ones next
    reactor_->at_end_of_turn(wake_hook_);
    return;
  }
  IntrusiveList<TlsOp> batch;
  batch.splice_back(waiters_);
  bool alive = true;
  waking_ = &batch;
  alive_ = &alive;
  while (!batch.empty()) {
    TlsOp& op = batch.pop_front();
    op.run(op);  // may park again, finish, or resume a coroutine that destroys this state
    if (!alive) return;
  }
  waking_ = nullptr;
  alive_ = nullptr;
}

// --- outcomes -------------------------------------------------------------------------------------------------

std::error_code TlsState::transport_failure() const noexcept {
  if (recv_error_ && input_.empty()) return recv_error_;
  if (send_error_) return send_error_;
  if (recv_error_) return recv_error_;
  if (input_eof_) return make_tls_error(TlsErrc::truncated);
  return make_tls_error(TlsErrc::protocol_error);
}

TlsState::Outcome TlsState::classify(int ret, std::error_code& ec) noexcept {
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ: return Outcome::want_input;
    case SSL_ERROR_ZERO_RETURN: return Outcome::closed;
    case SSL_ERROR_SYSCALL:
      ec = transport_failure();
      ERR_clear_error();
      break;
    case SSL_ERROR_SSL: ec = tls_error_after_failure(ssl_); break;
    default:  // WANT_WRITE cannot happen (the BIO takes every write); the rest are features rfarm does not use
      ec = make_tls_error(TlsErrc::invalid_state);
      ERR_clear_error();
      break;
  }
  // The peer gave up after we refused its renegotiation: say so rather than "handshake failure".
  if (refused_renegotiation_ && ec.category() == tls_category())
    ec = make_tls_error(TlsErrc::renegotiation_refused, TlsDetailSource::openssl, tls_openssl_error_of(ec));
  fail(ec);
  return Outcome::failed;
}

void TlsState::on_info(const SSL* ssl, int where, int ret) {
  // SSL_CTX_set_info_callback(3): for alerts, ret's low byte is the alert description.
  if ((where & SSL_CB_WRITE_ALERT) == SSL_CB_WRITE_ALERT && (ret & 0xff) == SSL_AD_NO_RENEGOTIATION) {
    if (TlsState* state = tls_state_of(ssl)) state->refused_renegotiation_ = true;
  }
}

// --- stream control -------------------------------------------------------------------------------------------

void TlsState::close() noexcept {
  fail(std::make_error_code(std::errc::operation_canceled));
  socket_.close();  // the receive and send in flight complete canceled, which wakes the parked operations
  if (!waiters_.empty()) reactor_->at_end_of_turn(wake_hook_);
}

void TlsState::set_session_target(TlsSessionCache cache, std::string key) {
  session_cache_ = std::move(cache);
  session_key_ = std::move(key);
}

bool TlsState::keep_session(SSL_SESSION* session) noexcept {
  if (!session_cache_) return false;
  try {
    session_cache_->store(session_key_, session);
  } catch (...) {  // out of memory: the session is simply not kept
    return false;
  }
  return true;
}

int tls_on_new_session(SSL* ssl, SSL_SESSION* session) noexcept {
  TlsState* state = tls_state_of(ssl);
  return state != nullptr && state->keep_session(session) ? 1 : 0;
}

}  // namespace rfarm::detail

// The steps of the TLS operations. Every step follows SSL_get_error(3): the thread's error queue is cleared
// before each SSL call, and a call that wants input is retried with the same arguments once input arrived.
#include "reactor/tls/detail/tls_ops.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstring>

#include "reactor/tls/tls_error.hpp"
#include "reactor/tls/tls_state.hpp"

namespace rfarm::detail {
namespace {

// A send encrypts ahead of the socket by at most this much: enough to keep the kernel busy, little enough
// that a large send_all does not turn into one large buffer of ciphertext.
constexpr std::size_t kOutputWindow = 256 * 1024;
// Plaintext per SSL_write: four full records, which leave together.
constexpr std::size_t kWriteChunk = 64 * 1024;
// The most plaintext one TLS record carries (RFC 8446 section 5.1): what small buffers are packed up to.
constexpr std::size_t kRecordPlaintext = 16 * 1024;

}  // namespace

TlsStep TlsFailure::fail(TlsState& s, std::error_code ec) noexcept {
  error = ec;
  draining = true;
  return drain(s);
}

TlsStep TlsFailure::drain(TlsState& s) noexcept { return s.output_settled() ? TlsStep::done : TlsStep::wait; }

// --- handshake ----------------------------------------------------------------------------------------------

TlsHandshakeLogic::~TlsHandshakeLogic() {
  if (reactor) reactor->remove_timer(*this);
}

void TlsHandshakeLogic::prepare(TlsState& s, TlsOp& self) noexcept {
  op = &self;
  reactor = &s.reactor();
  error = {};
  draining = false;
  timed_out = false;
  reactor->remove_timer(*this);
  if (timeout.count() > 0) reactor->add_timer(*this, timeout);
}

TlsStep TlsHandshakeLogic::step(TlsState& s) noexcept {
  if (timed_out) {
    if (!error) error = make_error_code(Errc::timed_out);
    s.fail(error);
    return TlsStep::done;
  }
  if (draining) return drain(s);
  if (std::error_code f = s.failure()) return fail(s, f);
  if (SSL_is_init_finished(s.ssl())) return TlsStep::done;  // a receive or send already completed it
  ERR_clear_error();
  int r = SSL_do_handshake(s.ssl());
  if (r == 1) {
    s.note_progress();  // operations started before the handshake ended may proceed now
    return TlsStep::done;
  }
  std::error_code ec;
  switch (s.classify(r, ec)) {
    case TlsState::Outcome::want_input: s.need_input(); return TlsStep::wait;
    case TlsState::Outcome::closed:  // close_notify in the middle of the handshake
      ec = make_tls_error(TlsErrc::handshake_failed);
      s.fail(ec);
      return fail(s, ec);
    case TlsState::Outcome::failed: break;
  }
  return fail(s, ec);
}

std::error_code TlsHandshakeLogic::finish() noexcept {
  if (reactor) reactor->remove_timer(*this);
  return error;
}

void TlsHandshakeLogic::cancel(std::error_code ec) noexcept {
  if (reactor) reactor->remove_timer(*this);
  error = ec;
}

void TlsHandshakeLogic::on_timeout(TimerNode& node) noexcept {
  auto& self = static_cast<TlsHandshakeLogic&>(node);
  self.timed_out = true;
  // The operation is parked (a pending handshake always is): take it out and let its step report the time-out.
  if (self.op->linked()) {
    IntrusiveList<TlsOp>::unlink(*self.op);
    self.op->run(*self.op);
  }
}

// --- receive ------------------------------------------------------------------------------------------------

void TlsRecvLogic::prepare(TlsState&, TlsOp&) noexcept {
  received = 0;
  closed = false;
  error = {};
  draining = false;
}

TlsStep TlsRecvLogic::step(TlsState& s) noexcept {
  if (draining) return drain(s);
  if (std::error_code f = s.failure()) return fail(s, f);
  while (received < buffer.size()) {
    std::size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(s.ssl(), buffer.data() + received, buffer.size() - received, &n);
    if (r == 1) {
      received += n;
      if (!exactly) return TlsStep::done;
      continue;
    }
    std::error_code ec;
    switch (s.classify(r, ec)) {
      case TlsState::Outcome::want_input: s.need_input(); return TlsStep::wait;
      case TlsState::Outcome::closed: closed = true; return TlsStep::done;
      case TlsState::Outcome::failed: return fail(s, ec);
    }
  }
  return TlsStep::done;
}

Result<std::size_t> TlsRecvLogic::finish() noexcept {
  if (error) return rfarm::fail(error);
  if (exactly && received < buffer.size()) return rfarm::fail(Errc::end_of_stream);
  return received;
}

void TlsRecvPooledLogic::prepare(TlsState&, TlsOp&) noexcept {
  buffer.reset();
  error = {};
  draining = false;
}

TlsStep TlsRecvPooledLogic::step(TlsState& s) noexcept {
  if (draining) return drain(s);
  if (std::error_code f = s.failure()) return fail(s, f);
  if (!s.input_ready()) {  // nothing to decrypt: wait without holding a buffer
    s.need_input();
    return TlsStep::wait;
  }
  PooledBuffer leased = s.reactor().receive_pool().acquire();
  MutableBytes room = leased.writable();
  std::size_t n = 0;
  ERR_clear_error();
  int r = SSL_read_ex(s.ssl(), room.data(), room.size(), &n);
  if (r == 1) {
    leased.commit(n);
    buffer = std::move(leased);
    return TlsStep::done;
  }
  std::error_code ec;
  switch (s.classify(r, ec)) {
    case TlsState::Outcome::want_input: s.need_input(); return TlsStep::wait;  // `leased` goes back now
    case TlsState::Outcome::closed: return TlsStep::done;                      // an empty buffer: end of stream
    case TlsState::Outcome::failed: break;
  }
  return fail(s, ec);
}

Result<PooledBuffer> TlsRecvPooledLogic::finish() noexcept {
  if (error) return rfarm::fail(error);
  return std::move(buffer);
}

// --- send -----------------------------------------------------------------------------------------------------

void TlsSendLogic::prepare(TlsState& s, TlsOp&) noexcept {
  offset = 0;
  next_iovec = 0;
  packed.reset();
  mark = s.produced();
  error = {};
  draining = false;
}

TlsStep TlsSendLogic::step(TlsState& s) noexcept {
  if (!gather.empty()) return step_gather(s);
  if (draining) return drain(s);
  if (std::error_code f = s.failure()) return fail(s, f);
  if (std::error_code e = s.send_error()) return fail(s, e);
  // send (not all) encrypts only until its first wait: it reports what one output window took.
  bool may_encrypt = all || offset == 0;
  while (may_encrypt && offset < data.size() && s.unsent() < kOutputWindow) {
    std::size_t chunk = std::min(data.size() - offset, kWriteChunk);
    std::size_t n = 0;
    ERR_clear_error();
    int r = SSL_write_ex(s.ssl(), data.data() + offset, chunk, &n);
    if (r == 1) {
      offset += n;
      mark = s.produced();
      continue;
    }
    std::error_code ec;
    switch (s.classify(r, ec)) {
      case TlsState::Outcome::want_input: s.need_input(); return TlsStep::wait;  // handshake in progress
      case TlsState::Outcome::closed: ec = make_tls_error(TlsErrc::invalid_state); break;
      case TlsState::Outcome::failed: break;
    }
    return fail(s, ec);
  }
  bool encrypted = all ? offset == data.size() : (offset > 0 || data.empty());
  return encrypted && s.sent() >= mark ? TlsStep::done : TlsStep::wait;
}

bool TlsSendLogic::write_record(TlsState& s, ConstBytes bytes, TlsStep* outcome) noexcept {
  std::size_t n = 0;
  ERR_clear_error();
  // Without SSL_MODE_ENABLE_PARTIAL_WRITE, success means every byte was taken; our BIO never refuses a
  // write, so the only retry is for input (a handshake message), made with the same bytes (SSL_write(3)).
  if (SSL_write_ex(s.ssl(), bytes.data(), bytes.size(), &n) == 1) {
    offset += n;
    mark = s.produced();
    return true;
  }
  std::error_code ec;
  switch (s.classify(0, ec)) {
    case TlsState::Outcome::want_input: s.need_input(); *outcome = TlsStep::wait; return false;
    case TlsState::Outcome::closed: ec = make_tls_error(TlsErrc::invalid_state); break;
    case TlsState::Outcome::failed: break;
  }
  *outcome = fail(s, ec);
  return false;
}

TlsStep TlsSendLogic::step_gather(TlsState& s) noexcept {
  if (draining) return drain(s);
  if (std::error_code f = s.failure()) return fail(s, f);
  if (std::error_code e = s.send_error()) return fail(s, e);
  TlsStep outcome = TlsStep::wait;
  while (s.unsent() < kOutputWindow) {
    if (packed) {  // a packed record not yet taken (SSL_write wanted input): retry with the same bytes
      if (!write_record(s, packed.bytes(), &outcome)) return outcome;
      packed.reset();
      continue;
    }
    while (next_iovec < gather.size() && gather[next_iovec].iov_len == 0) ++next_iovec;
    if (next_iovec == gather.size()) break;
    iovec& first = gather[next_iovec];
    if (first.iov_len >= kRecordPlaintext) {  // large: encrypted where it is, a few records per call
      std::size_t chunk = std::min(first.iov_len, kWriteChunk);
      if (!write_record(s, {static_cast<const std::byte*>(first.iov_base), chunk}, &outcome)) return outcome;
      first.iov_base = static_cast<std::byte*>(first.iov_base) + chunk;
      first.iov_len -= chunk;
      continue;
    }
    // Small: copy buffers (and the head of a large one that follows) into one record-sized block.
    packed = s.reactor().receive_pool().acquire();
    std::size_t room = std::min(packed.capacity(), kRecordPlaintext);
    for (std::size_t i = next_iovec; i < gather.size() && packed.size() < room; ++i) {
      iovec& v = gather[i];
      std::size_t take = std::min(v.iov_len, room - packed.size());
      std::memcpy(packed.writable().data(), v.iov_base, take);
      packed.commit(take);
      v.iov_base = static_cast<std::byte*>(v.iov_base) + take;
      v.iov_len -= take;
    }
  }
  bool encrypted = !packed && next_iovec == gather.size();
  return encrypted && s.sent() >= mark ? TlsStep::done : TlsStep::wait;
}

Result<std::size_t> TlsSendLogic::finish() noexcept {
  if (error) return rfarm::fail(error);
  return offset;
}

// --- shutdown -------------------------------------------------------------------------------------------------

void TlsShutdownLogic::prepare(TlsState&, TlsOp&) noexcept {
  notified = false;
  mark = 0;
  error = {};
  draining = false;
}

TlsStep TlsShutdownLogic::step(TlsState& s) noexcept {
  if (draining) return drain(s);
  if (!notified) {
    if (std::error_code f = s.failure()) return fail(s, f);  // SSL_shutdown(3): not after a fatal error
    if (!SSL_is_init_finished(s.ssl())) {                    // no session to close yet (OpenSSL would fail the stream)
      error = make_tls_error(TlsErrc::invalid_state);
      return TlsStep::done;
    }
    ERR_clear_error();
    int r = SSL_shutdown(s.ssl());  // 0: close_notify queued, the peer's not seen yet; 1: both done
    if (r < 0) {
      std::error_code ec;
      switch (s.classify(r, ec)) {
        case TlsState::Outcome::want_input: s.need_input(); return TlsStep::wait;
        case TlsState::Outcome::closed: break;
        case TlsState::Outcome::failed: return fail(s, ec);
      }
    }
    notified = true;
    mark = s.produced();
  }
  if (std::error_code e = s.send_error()) return fail(s, e);
  if (s.sent() < mark) return TlsStep::wait;
  // close_notify is in the kernel: half-close so a peer waiting for end of stream sees it.
  std::error_code ec = s.socket().shutdown(ShutdownHow::send);
  if (ec && ec != std::errc::not_connected) error = ec;
  return TlsStep::done;
}

}  // namespace rfarm::detail

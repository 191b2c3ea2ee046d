// Internal to reactor/tls: the heap state of a TlsStream. It owns the OpenSSL session and the socket and moves
// ciphertext between them through buffers it owns:
//
//  * in: the socket's recv_pooled() hands over a buffer leased when data arrives (from the reactor's pool on
//    epoll, the provided-buffer ring on io_uring); OpenSSL copies records out of it through a custom BIO into
//    its own record buffer, the one copy it needs. A receive is started only while an operation waits for
//    ciphertext, so an idle stream holds no receive buffer.
//  * out: records OpenSSL writes go into pooled buffers; at the end of the loop turn everything queued leaves
//    in one gathered send_all, and records written while a send is in flight leave together in the next one.
//    The BIO never refuses a write (the operations bound what they queue), so OpenSSL never needs a retry with
//    the same arguments for lack of room.
//
// Operations (tls_ops.hpp) park here; after anything changes, every parked operation is re-run.
#pragma once

#include <openssl/ssl.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "reactor/net/stream_socket.hpp"
#include "reactor/tls/detail/tls_ops.hpp"
#include "reactor/tls/tls_context.hpp"
#include "reactor/tls/tls_session_cache.hpp"

namespace rfarm::detail {

class TlsState {
 public:
  // A session of context's role over a connected socket: the SSL object, its BIO, our callbacks.
  static Result<std::unique_ptr<TlsState>> create(StreamSocket socket, const TlsContext& context);
  // Takes over ssl (freed with the state); create() is the way to make one.
  TlsState(StreamSocket socket, SSL* ssl, TlsContext context) noexcept;
  TlsState(const TlsState&) = delete;
  TlsState& operator=(const TlsState&) = delete;
  ~TlsState();

  SSL* ssl() const noexcept { return ssl_; }
  Reactor& reactor() const noexcept { return *reactor_; }
  StreamSocket& socket() noexcept { return socket_; }

  // --- for the operation logics ----------------------------------------------------------------------
  enum class Outcome : std::uint8_t { want_input, closed, failed };
  // After an SSL call returned ret (failure or retry): what it means. A failure becomes the stream's sticky
  // failure (OpenSSL allows no further I/O on the session), written to ec.
  Outcome classify(int ret, std::error_code& ec) noexcept;
  std::error_code failure() const noexcept { return failure_; }
  void fail(std::error_code ec) noexcept {
    if (!failure_) failure_ = ec;
  }

  // Starts one ciphertext receive unless one is in flight or the transport is finished.
  void need_input() noexcept;
  // Whether SSL_read could make progress without a new receive (plaintext, ciphertext, EOF or an error).
  bool input_ready() const noexcept;
  // Output written by OpenSSL leaves at the end of this turn. bio_write calls it for every record, so an SSL
  // call that writes (a handshake step, SSL_write, a read answering a KeyUpdate, an alert) needs nothing more.
  void flush_soon() noexcept;
  // Nothing queued and nothing in flight (or the transport failed and dropped it).
  bool output_settled() const noexcept { return output_.empty() && !send_in_flight_; }
  std::uint64_t produced() const noexcept { return produced_; }
  std::uint64_t sent() const noexcept { return sent_; }
  std::size_t unsent() const noexcept { return static_cast<std::size_t>(produced_ - sent_); }
  std::error_code send_error() const noexcept { return send_error_; }

  void park(TlsOp& op) noexcept { waiters_.push_back(op); }
  // Something other parked operations may care about happened (the handshake finished): re-run them at the
  // end of the turn.
  void note_progress() noexcept;

  // --- for TlsStream ---------------------------------------------------------------------------------
  void close() noexcept;
  void set_session_target(TlsSessionCache cache, std::string key);
  // Called by tls_on_new_session.
  bool keep_session(SSL_SESSION* session) noexcept;

  struct Counters {
    std::uint64_t receives = 0;  // ciphertext receives completed
    std::uint64_t sends = 0;     // gathered ciphertext sends started
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t record_writes = 0;  // bio_write calls
  };
  const Counters& counters() const noexcept { return counters_; }

  // Callback-style operations.
  TlsHandlerOperation<TlsHandshakeLogic> handshake_op;
  TlsHandlerOperation<TlsRecvLogic> recv_op;
  TlsHandlerOperation<TlsRecvPooledLogic> recv_pooled_op;
  TlsHandlerOperation<TlsSendLogic> send_op;
  TlsHandlerOperation<TlsShutdownLogic> shutdown_op;

 private:
  friend struct TlsBio;

  // Custom BIO ends (tls_state.cpp).
  int bio_read(char* out, std::size_t len, std::size_t* read) noexcept;
  int bio_write(const char* in, std::size_t len, std::size_t* written) noexcept;
  long bio_ctrl(int cmd) noexcept;

  void on_received(Result<PooledBuffer> received) noexcept;
  void start_send() noexcept;
  void on_sent(Result<std::size_t> sent) noexcept;
  void wake_all() noexcept;
  std::error_code transport_failure() const noexcept;
  static void on_info(const SSL* ssl, int where, int ret);

  static void run_flush(TurnHook& hook) noexcept;
  static void run_wake(TurnHook& hook) noexcept;
  struct Hook : TurnHook {
    Hook(TlsState* s, RunFn fn) noexcept : TurnHook(fn), state(s) {}
    TlsState* state;
  };

  SSL* ssl_;
  Reactor* reactor_;
  TlsContext context_;  // keeps the SSL_CTX's callbacks' data alive as long as the session
  std::error_code failure_;

  // Ciphertext in.
  std::vector<PooledBuffer> input_;
  bool recv_in_flight_ = false;
  bool input_eof_ = false;
  std::error_code recv_error_;

  // Ciphertext out.
  std::vector<PooledBuffer> output_;
  std::vector<iovec> iovecs_;
  bool send_in_flight_ = false;
  std::uint64_t produced_ = 0;
  std::uint64_t sent_ = 0;
  std::error_code send_error_;

  bool refused_renegotiation_ = false;
  std::optional<TlsSessionCache> session_cache_;  // client: where new sessions go, under session_key_
  std::string session_key_;

  IntrusiveList<TlsOp> waiters_;
  IntrusiveList<TlsOp>* waking_ = nullptr;  // the batch wake_all() is running, if any
  bool* alive_ = nullptr;                   // cleared by the destructor while wake_all() runs
  Hook flush_hook_{this, &TlsState::run_flush};
  Hook wake_hook_{this, &TlsState::run_wake};
  Counters counters_;

  StreamSocket socket_;  // last: destroyed first, abandoning its operations before the buffers they use go
};

}  // namespace rfarm::detail

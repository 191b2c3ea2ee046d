// Operation logics of a TLS stream (see tls_operation.hpp for how each becomes an awaitable or a stored-handler
// operation). Internal to the TLS layer; their steps are in tls_ops.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>

#include <sys/uio.h>

#include "lib/buffer_pool.hpp"
#include "lib/bytes.hpp"
#include "lib/error.hpp"
#include "reactor/loop/timer_heap.hpp"
#include "reactor/tls/detail/tls_operation.hpp"

namespace rfarm::detail {

// A failed operation first lets its alert leave (so the peer learns why), then finishes.
struct TlsFailure {
  std::error_code error;
  bool draining = false;
  TlsStep fail(TlsState& s, std::error_code ec) noexcept;
  TlsStep drain(TlsState& s) noexcept;
};

// Runs (or finishes) the handshake; a deadline, when given, fails it with Errc::timed_out.
struct TlsHandshakeLogic : TimerNode, TlsFailure {
  using result_type = std::error_code;
  TlsHandshakeLogic() noexcept : TimerNode(&TlsHandshakeLogic::on_timeout) {}
  explicit TlsHandshakeLogic(Duration t) noexcept : TimerNode(&TlsHandshakeLogic::on_timeout), timeout(t) {}
  ~TlsHandshakeLogic();
  void prepare(TlsState& s, TlsOp& self) noexcept;
  TlsStep step(TlsState& s) noexcept;
  result_type finish() noexcept;
  void cancel(std::error_code ec) noexcept;
  static void on_timeout(TimerNode& node) noexcept;

  Duration timeout{0};
  Reactor* reactor = nullptr;
  TlsOp* op = nullptr;
  bool timed_out = false;
};

// Some plaintext (at most buffer.size(); 0 once the peer sent close_notify), or with `exactly` all of it
// (Errc::end_of_stream if close_notify comes first).
struct TlsRecvLogic : TlsFailure {
  using result_type = Result<std::size_t>;
  TlsRecvLogic() noexcept = default;
  TlsRecvLogic(MutableBytes b, bool all) noexcept : buffer(b), exactly(all) {}
  void prepare(TlsState& s, TlsOp& self) noexcept;
  TlsStep step(TlsState& s) noexcept;
  result_type finish() noexcept;
  void cancel(std::error_code ec) noexcept { error = ec; }

  MutableBytes buffer;
  bool exactly = false;
  std::size_t received = 0;
  bool closed = false;
};

// Plaintext in a buffer leased from the reactor's pool only once ciphertext is there (an idle stream pins no
// receive memory); empty once the peer sent close_notify.
struct TlsRecvPooledLogic : TlsFailure {
  using result_type = Result<PooledBuffer>;
  void prepare(TlsState& s, TlsOp& self) noexcept;
  TlsStep step(TlsState& s) noexcept;
  result_type finish() noexcept;
  void cancel(std::error_code ec) noexcept { error = ec; }

  PooledBuffer buffer;
};

// Encrypts data and finishes once its records have been handed to the kernel. `all`: every byte (send_all);
// otherwise as much as one output window takes (send). With a gather list instead of data (send_all of
// iovecs), small buffers are packed together into full records (one SSL_write per 16 KiB, not one per
// buffer), large ones are encrypted in place; the iovecs are advanced in place as their bytes are taken.
struct TlsSendLogic : TlsFailure {
  using result_type = Result<std::size_t>;
  TlsSendLogic() noexcept = default;
  TlsSendLogic(ConstBytes d, bool every) noexcept : data(d), all(every) {}
  explicit TlsSendLogic(std::span<iovec> buffers) noexcept : all(true), gather(buffers) {}
  void prepare(TlsState& s, TlsOp& self) noexcept;
  TlsStep step(TlsState& s) noexcept;
  result_type finish() noexcept;
  void cancel(std::error_code ec) noexcept { error = ec; }

  ConstBytes data;
  bool all = true;
  std::size_t offset = 0;  // bytes handed to SSL_write
  std::uint64_t mark = 0;  // the stream's output position after our last record
  std::span<iovec> gather;  // used when non-empty
  std::size_t next_iovec = 0;
  PooledBuffer packed;  // small buffers packed into one record, until SSL_write took them

 private:
  TlsStep step_gather(TlsState& s) noexcept;
  // SSL_write_ex of all of bytes; false (with the step to return in *outcome) if it could not.
  bool write_record(TlsState& s, ConstBytes bytes, TlsStep* outcome) noexcept;
};

// Sends close_notify, waits until it has left, then half-closes the socket (the peer reads end of stream).
struct TlsShutdownLogic : TlsFailure {
  using result_type = std::error_code;
  void prepare(TlsState& s, TlsOp& self) noexcept;
  TlsStep step(TlsState& s) noexcept;
  result_type finish() noexcept { return error; }
  void cancel(std::error_code ec) noexcept { error = ec; }

  bool notified = false;
  std::uint64_t mark = 0;
};

}  // namespace rfarm::detail

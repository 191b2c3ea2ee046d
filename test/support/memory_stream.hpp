// MemoryStream: a ByteStream over strings, for tests of the buffered and protocol layers that need exact
// control over how input is split (one byte per receive, random splits) and a count of sends. Every
// operation completes at once, so a Task over it runs to completion in run_now() without any reactor.
//
//     rfarm::BufferPool pool(16);
//     rfarm::BufferedStream<MemoryStream<>> in(MemoryStream<>("a\r\nb\n", Splits::one_byte()), pool);
//     EXPECT_EQ(run_now(in.read_line(10)).value(), "a");
#pragma once

#include <sys/uio.h>

#include <algorithm>
#include <coroutine>
#include <cstring>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "lib/buffer_pool.hpp"
#include "lib/bytes.hpp"
#include "lib/error.hpp"
#include "lib/maybe_ready.hpp"
#include "lib/task.hpp"

namespace rfarm::test {

// An awaitable that is complete from the start.
template <class T>
struct Ready {
  T value;
  bool await_ready() const noexcept { return true; }
  void await_suspend(std::coroutine_handle<>) const noexcept {}
  T await_resume() { return std::move(value); }
};

// How a MemoryStream splits its input across receives.
struct Splits {
  std::size_t max = SIZE_MAX;  // at most this many bytes per receive
  std::uint32_t seed = 0;      // non-zero: each receive takes a random 1..max bytes
  static Splits whole() { return {}; }
  static Splits one_byte() { return {1, 0}; }
  static Splits random(std::size_t max, std::uint32_t seed) { return {max, seed}; }
};

template <bool Pooled = false>
class MemoryStream {
 public:
  MemoryStream(std::string input, Splits splits = {}, BufferPool* pool = nullptr)
      : input_(std::move(input)), splits_(splits), random_(splits.seed), pool_(pool) {}

  Ready<Result<std::size_t>> recv(MutableBytes out) {
    ++receives;
    if (position_ == input_.size() && end_error) return {fail(end_error)};
    std::size_t n = next_size(out.size());
    std::memcpy(out.data(), input_.data() + position_, n);
    position_ += n;
    return {n};
  }

  Ready<Result<PooledBuffer>> recv_pooled()
    requires Pooled
  {
    ++receives;
    if (position_ == input_.size() && end_error) return {fail(end_error)};
    PooledBuffer buffer = pool_->acquire();
    std::size_t n = next_size(buffer.capacity());
    std::memcpy(buffer.writable().data(), input_.data() + position_, n);
    buffer.commit(n);
    position_ += n;
    if (n == 0) buffer.reset();
    return {std::move(buffer)};
  }

  Ready<Result<std::size_t>> send_all(ConstBytes data) {
    ++sends;
    if (send_error) return {fail(send_error)};
    output.append(as_chars(data));
    return {data.size()};
  }

  Ready<Result<std::size_t>> send_all(std::span<iovec> gather) {
    ++sends;
    ++gathered_sends;
    if (send_error) return {fail(send_error)};
    std::size_t total = 0;
    for (const iovec& v : gather) {
      output.append(static_cast<const char*>(v.iov_base), v.iov_len);
      total += v.iov_len;
    }
    return {total};
  }

  std::size_t unread() const noexcept { return input_.size() - position_; }

  std::string output;
  std::size_t sends = 0;
  std::size_t gathered_sends = 0;
  std::size_t receives = 0;
  std::error_code end_error;   // reported instead of end of stream once the input is used up
  std::error_code send_error;  // every send fails with it

 private:
  std::size_t next_size(std::size_t room) {
    std::size_t n = std::min({room, splits_.max, input_.size() - position_});
    if (splits_.seed != 0 && n > 1) n = std::uniform_int_distribution<std::size_t>(1, n)(random_);
    return n;
  }

  std::string input_;
  std::size_t position_ = 0;
  Splits splits_;
  std::mt19937 random_;
  BufferPool* pool_;
};

// Runs a task whose awaits all complete at once; throws if it suspends (it would need a reactor).
template <class T>
T run_now(Task<T> task) {
  auto handle = task.handle();
  handle.resume();
  if (!handle.done()) throw std::logic_error("run_now: the task suspended");
  return handle.promise().take();
}

template <class T>
T run_now(MaybeReady<T> op) {
  return run_now(std::move(op).into_task());
}

}  // namespace rfarm::test

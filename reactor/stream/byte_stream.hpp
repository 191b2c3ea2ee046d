// ByteStream: what the buffered and protocol layers (BufferedStream, chunked HTTP bodies) need from a
// connected stream. StreamSocket and TlsStream (reactor/tls/tls_stream.hpp) model it.
//
// Required (coroutine form; each call returns something co_await-able):
//     co_await s.recv(MutableBytes)    -> Result<std::size_t>   some bytes, 0 at end of stream
//     co_await s.send_all(ConstBytes)  -> Result<std::size_t>   every byte, or an error
// Optional, used when present:
//     co_await s.recv_pooled()               -> Result<PooledBuffer>  a buffer leased when data arrives, so an
//                                                                     idle stream pins no receive memory
//     co_await s.send_all(std::span<iovec>)  -> Result<std::size_t>   gathered send (iovecs advanced in place)
//     s.reactor()                            -> Reactor&              where to lease buffers from by default
#pragma once

#include <sys/uio.h>

#include <concepts>
#include <cstddef>
#include <span>
#include <utility>

#include "lib/buffer_pool.hpp"
#include "lib/bytes.hpp"
#include "lib/error.hpp"

namespace rfarm {

class Reactor;

namespace detail {

// The awaiter co_await uses for an expression of type A: its member operator co_await (Task) or A itself.
// Only named in unevaluated contexts.
template <class A>
decltype(auto) awaiter_of(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

}  // namespace detail

// What `co_await std::declval<A>()` yields.
template <class A>
using await_result_t = decltype(detail::awaiter_of(std::declval<A>()).await_resume());

template <class A, class R>
concept AwaitableOf = requires { typename await_result_t<A>; } && std::convertible_to<await_result_t<A>, R>;

template <class S>
concept ByteStream = std::movable<S> && requires(S& s, MutableBytes in, ConstBytes out) {
  { s.recv(in) } -> AwaitableOf<Result<std::size_t>>;
  { s.send_all(out) } -> AwaitableOf<Result<std::size_t>>;
};

template <class S>
concept PooledReceiver = requires(S& s) {
  { s.recv_pooled() } -> AwaitableOf<Result<PooledBuffer>>;
};

template <class S>
concept GatheringSender = requires(S& s, std::span<iovec> gather) {
  { s.send_all(gather) } -> AwaitableOf<Result<std::size_t>>;
};

template <class S>
concept HasReactor = requires(S& s) {
  { s.reactor() } -> std::same_as<Reactor&>;
};

}  // namespace rfarm

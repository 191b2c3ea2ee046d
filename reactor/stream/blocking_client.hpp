// BlockingClient: a TCP client for programs that do not run an event loop (scripts, tools, tests).
//
//     auto c = rfarm::BlockingClient::connect("127.0.0.1", 7000, 2s);
//     if (!c) return c.error();
//     c->write_all(rfarm::as_bytes("PING\r\n"), 1s);
//     auto reply = c->read_line(1024, 1s);                 // Result<std::string>, CRLF / LF stripped
//
// Each client runs a private Reactor on the caller's thread, only inside its calls (no thread, no global
// state), and reads through a BufferedStream, so lines and binary data mix as they do there. Every call takes
// a timeout; when it passes the call fails with Errc::timed_out (== std::errc::timed_out) and the I/O it
// started is abandoned. A timed-out read_line / read_some leaves the stream as it was (the bytes received
// so far stay buffered, and a retry continues; bytes arriving at the very instant of the timeout are not lost
// with the abandoned receive, on either backend); after a timed-out read_exactly or write_all the position in
// the stream is unknown. A protocol that cannot lose its place closes the client
// after a timeout. `forever` waits without a limit. Not thread-safe; movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "lib/bytes.hpp"
#include "lib/error.hpp"
#include "reactor/backend/backend_kind.hpp"
#include "reactor/dns/resolver.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/address.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm {

struct BlockingClientOptions {
  BackendKind backend = BackendKind::automatic;  // of the private reactor
  std::size_t buffer_size = 16 * 1024;           // its read and write buffers
  bool nodelay = true;                           // TCP_NODELAY: a request leaves when write_all returns
  ResolverOptions resolver;                      // how host names are looked up (default: the system's)
};

class BlockingClient {
 public:
  static constexpr Duration forever = Duration::max();

  // Connects to host:port within timeout. host is an IP literal ("127.0.0.1", "::1") or a name, looked up
  // on the client's own reactor (Resolver: /etc/hosts, then DNS) and connected with connect_by_name (every
  // address tried, Happy Eyeballs), the lookup counting against the same timeout. Lookup failures are the
  // resolver's (Errc::host_not_found, ...).
  static Result<BlockingClient> connect(std::string_view host, std::uint16_t port, Duration timeout,
                                        const BlockingClientOptions& options = {});
  static Result<BlockingClient> connect(const Address& address, Duration timeout,
                                        const BlockingClientOptions& options = {});

  BlockingClient(BlockingClient&&) noexcept;
  BlockingClient& operator=(BlockingClient&&) noexcept;
  ~BlockingClient();

  // Some bytes (buffered ones first); 0 when the server closed the connection.
  Result<std::size_t> read_some(MutableBytes out, Duration timeout);
  // Exactly out.size() bytes; Errc::end_of_stream if the server closes first.
  Result<std::size_t> read_exactly(MutableBytes out, Duration timeout);
  // One line without its CRLF / LF (BufferedStream::read_line rules); Errc::line_too_long past limit bytes,
  // Errc::end_of_stream at the end of the stream.
  Result<std::string> read_line(std::size_t limit, Duration timeout);
  // Every byte handed to the kernel, or an error.
  std::error_code write_all(ConstBytes data, Duration timeout);
  std::error_code write_all(std::string_view text, Duration timeout) { return write_all(as_bytes(text), timeout); }

  // Half-close: the server reads end of stream; replies can still be read.
  std::error_code shutdown_send() noexcept;
  // Closes the connection (also done by the destructor). Later calls fail with std::errc::not_connected.
  void close() noexcept;
  bool is_open() const noexcept;

  Result<Address> local_address() const;
  Result<Address> remote_address() const;
  BackendKind backend_kind() const noexcept;

 private:
  struct State;
  explicit BlockingClient(std::unique_ptr<State> state) noexcept;
  static BlockingClient adopt(std::unique_ptr<Reactor> reactor, StreamSocket connected,
                              const BlockingClientOptions& options);
  std::unique_ptr<State> state_;
};

}  // namespace rfarm

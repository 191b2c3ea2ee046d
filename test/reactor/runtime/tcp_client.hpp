// TcpClient: a plain blocking-with-timeouts TCP client for the runtime tests, run on the test's own thread
// (no reactor: the peer of a server must not share the code under test).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>

#include "lib/error.hpp"
#include "reactor/net/address.hpp"
#include "reactor/net/unique_fd.hpp"

namespace rfarm::test {

class TcpClient {
 public:
  static Result<TcpClient> connect(const Address& address, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    UniqueFd fd(::socket(address.native_family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) return fail_errno();
    if (::connect(fd.get(), address.native(), address.native_length()) != 0) {
      if (errno != EINPROGRESS) return fail_errno();
      pollfd p{fd.get(), POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return fail(std::make_error_code(std::errc::timed_out));
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return fail(errno_code(err));
    }
    int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return TcpClient(std::move(fd));
  }

  std::error_code send_all(std::string_view data, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN) return last_errno();
      pollfd p{fd_.get(), POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return std::make_error_code(std::errc::timed_out);
    }
    return {};
  }

  // Exactly n bytes; end_of_stream if the server closed first, timed_out after limit.
  Result<std::string> recv_exactly(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (out.size() < n) {
      char buf[4096];
      ssize_t got = ::recv(fd_.get(), buf, std::min(sizeof buf, n - out.size()), 0);
      if (got > 0) {
        out.append(buf, static_cast<std::size_t>(got));
        continue;
      }
      if (got == 0) return fail(Errc::end_of_stream);
      if (errno != EAGAIN) return fail_errno();
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return fail(std::make_error_code(std::errc::timed_out));
      pollfd p{fd_.get(), POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
    return out;
  }

  // Sends text and expects it back.
  bool echo(std::string_view text) {
    if (send_all(text)) return false;
    auto back = recv_exactly(text.size());
    return back && *back == text;
  }

  // Whether the server closes the connection (end of stream or reset) within limit.
  bool closed_by_peer(std::chrono::milliseconds limit) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) != 1) return false;
    char c;
    ssize_t n = ::recv(fd_.get(), &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  void close() { fd_.reset(); }
  int native_handle() const { return fd_.get(); }

 private:
  explicit TcpClient(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace rfarm::test

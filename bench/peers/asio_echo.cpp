// asio_echo.cpp - TCP echo server on standalone Asio 1.22 (Debian libasio-dev), one of the peers rfarm's
// tools/echo-server is measured against (bench/run, scenario echo).
//
// Written the way Asio's own examples do it (example/cpp11/echo/async_tcp_echo_server.cpp): one
// single-threaded io_context, a session object per connection kept alive by shared_from_this, async_read_some
// into the session's buffer and async_write of what came in, then read again. Asio recycles the memory of
// those handlers itself (its per-thread recycling allocator), so a steady echo allocates nothing. Added to the
// example only what a speed-minded user adds: TCP_NODELAY, the largest listen backlog, a 64 KiB buffer, and
// io_context's concurrency hint 1 (it tells Asio no other thread runs the context, so it skips its locks).
//
// Command line (shared with rfarm's tools/echo-server and the other peers):
//   asio_echo --listen tcp:HOST:PORT
// PORT 0 picks a free port; the first stdout line is the bound address in the same form, flushed at once.
// SIGINT/SIGTERM stop the io_context; exit status 0.
#include <asio.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

namespace {

using asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : socket_(std::move(socket)) {}

  void start() { read(); }

 private:
  void read() {
    auto self(shared_from_this());
    socket_.async_read_some(asio::buffer(data_), [this, self](std::error_code ec, std::size_t n) {
      if (!ec) write(n);
    });
  }

  void write(std::size_t n) {
    auto self(shared_from_this());
    asio::async_write(socket_, asio::buffer(data_, n), [this, self](std::error_code ec, std::size_t) {
      if (!ec) read();
    });
  }

  tcp::socket socket_;
  std::array<char, 64 * 1024> data_;
};

class Server {
 public:
  Server(asio::io_context& io, const tcp::endpoint& at) : acceptor_(io) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

  void accept() {
    acceptor_.async_accept([this](std::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true));
        std::make_shared<Session>(std::move(socket))->start();
      }
      if (acceptor_.is_open()) accept();
    });
  }

 private:
  tcp::acceptor acceptor_;
};

// "tcp:HOST:PORT" ("tcp:[v6]:PORT") -> endpoint.
bool parse_listen(const std::string& spec, tcp::endpoint& out) {
  if (spec.rfind("tcp:", 0) != 0) return false;
  std::string hp = spec.substr(4);
  auto colon = hp.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = hp.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::error_code ec;
  auto address = host.empty() ? asio::ip::address(asio::ip::address_v4::any()) : asio::ip::make_address(host, ec);
  if (ec) return false;
  out = tcp::endpoint(address, static_cast<unsigned short>(std::atoi(hp.c_str() + colon + 1)));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  tcp::endpoint at;
  if (argc != 3 || std::strcmp(argv[1], "--listen") != 0 || !parse_listen(argv[2], at)) {
    std::fprintf(stderr, "usage: asio_echo --listen tcp:HOST:PORT\n");
    return 2;
  }
  try {
    asio::io_context io(1);
    asio::signal_set signals(io, SIGINT, SIGTERM);  // before the address line: SIGTERM may follow it at once
    signals.async_wait([&](std::error_code, int) { io.stop(); });
    Server server(io, at);
    server.accept();
    auto bound = server.local_endpoint();
    if (bound.address().is_v6())
      std::printf("tcp:[%s]:%u\n", bound.address().to_string().c_str(), bound.port());
    else
      std::printf("tcp:%s:%u\n", bound.address().to_string().c_str(), bound.port());
    std::fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "asio_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}

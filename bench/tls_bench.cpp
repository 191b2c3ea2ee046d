// tls_bench.cpp - rfarm's TlsStream next to plain blocking OpenSSL, measured in the same run.
//
//   tls_bench [--handshakes N] [--bulk-mib M] [--rounds R] [--backend epoll|uring] [--json FILE]
//
// Three workloads, each run by both implementations with the same certificate (EC P-256, made with the
// openssl command in a temporary directory), the same OpenSSL defaults (TLS 1.3, TLS_AES_256_GCM_SHA384,
// X25519) and the same wire protocol, one server thread and one client thread over loopback TCP:
//
//   new       N full handshakes: connect, handshake, 1-byte ping-pong (so the client has read the session
//             tickets), close_notify, close.
//   resumed   the same with a session from the first connection (TLS 1.3 PSK resumption).
//   bulk      one connection sends M MiB client -> server in 64 KiB writes; the server reads in 16 KiB.
//
// "rfarm" is TlsStream on one Reactor per thread (--backend picks the backend); "openssl" is the textbook
// blocking program: SSL_set_fd, SSL_accept / SSL_connect, SSL_read / SSL_write on blocking sockets.
//
// Reported per workload (median over R interleaved rounds): wall rate and CPU time per operation of the two
// threads together (getrusage RUSAGE_THREAD), and the ratio rfarm / openssl. On a shared 2-core machine the
// CPU figure is the steadier one. --json writes the same medians and ratios, machine-readable.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_listener.hpp"
#include "reactor/tls/tls_stream.hpp"

extern char** environ;

using namespace rfarm;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "tls_bench: %s\n", why.c_str());
  std::exit(1);
}

double thread_cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_THREAD, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

ReactorOptions options_for(BackendKind backend) {
  ReactorOptions options;
  options.backend = backend;
  return options;
}

struct Pki {
  std::string dir, cert, key;
  ~Pki() {
    std::error_code ignored;
    if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
  }
};

void make_pki(Pki& pki) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "rfarm-tls-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) die("cannot make a temporary directory");
  pki.dir = tmpl;
  pki.cert = pki.dir + "/cert.pem";
  pki.key = pki.dir + "/key.pem";
  std::vector<std::string> argv{"openssl",
                                "req",
                                "-x509",
                                "-newkey",
                                "ec",
                                "-pkeyopt",
                                "ec_paramgen_curve:P-256",
                                "-nodes",
                                "-keyout",
                                pki.key,
                                "-out",
                                pki.cert,
                                "-days",
                                "1",
                                "-subj",
                                "/CN=localhost",
                                "-addext",
                                "subjectAltName=DNS:localhost"};
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t quiet;  // openssl req draws progress dots on stderr
  ::posix_spawn_file_actions_init(&quiet);
  ::posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid;
  int err = ::posix_spawnp(&pid, "openssl", &quiet, nullptr, args.data(), environ);
  ::posix_spawn_file_actions_destroy(&quiet);
  if (err != 0) die("the openssl command is needed to make the benchmark's certificate");
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("openssl req failed");
}

// --- the wire protocol (same for both) ------------------------------------------------------------------------
// client: 'h' -> server: 'h' (handshake ping); or client: 'b' + 8-byte length + data -> server: 'k'.
// Then the client sends close_notify and the server answers with its own.

constexpr std::size_t kWriteChunk = 64 * 1024;
constexpr std::size_t kReadChunk = 16 * 1024;

struct Measurement {
  double wall_seconds = 0;
  double cpu_seconds = 0;  // both threads
  std::size_t operations = 0;
  std::size_t not_resumed = 0;
};

enum class Workload { handshake_new, handshake_resumed, bulk };

// --- rfarm -----------------------------------------------------------------------------------------------------

Task<void> rfarm_serve(TlsStream tls) {
  if (co_await tls.handshake(5s)) co_return;
  std::byte mode{};
  if (!co_await tls.recv_exactly({&mode, 1})) co_return;
  if (mode == std::byte{'b'}) {
    std::uint64_t left = 0;
    if (!co_await tls.recv_exactly({reinterpret_cast<std::byte*>(&left), sizeof left})) co_return;
    std::vector<std::byte> sink(kReadChunk);
    while (left > 0) {
      auto n = co_await tls.recv({sink.data(), std::min<std::uint64_t>(left, sink.size())});
      if (!n || *n == 0) co_return;
      left -= *n;
    }
    mode = std::byte{'k'};
  }
  if (!co_await tls.send_all({&mode, 1})) co_return;
  std::byte end[1];
  co_await tls.recv(end);  // 0 at the client's close_notify
  co_await tls.shutdown();
}

Task<void> rfarm_accept(Reactor& reactor, StreamListener& listener, TlsContext context) {
  for (;;) {
    auto conn = co_await listener.accept();
    if (!conn) co_return;
    auto tls = TlsStream::server(std::move(*conn), context);
    if (tls) reactor.spawn(rfarm_serve(std::move(*tls)));
  }
}

Task<std::error_code> rfarm_one(Reactor& reactor, Address where, const TlsContext& ctx, TlsSessionCache* cache,
                                Workload w, std::uint64_t bulk_bytes, std::size_t& not_resumed) {
  auto sock = co_await StreamSocket::connect(reactor, where, 5s);
  if (!sock) co_return sock.error();
  sock->set_nodelay(true);
  auto tls = TlsStream::client(std::move(*sock), ctx, {.server_name = "localhost", .session_cache = cache});
  if (!tls) co_return tls.error();
  if (auto ec = co_await tls->handshake(5s)) co_return ec;
  if (w == Workload::handshake_resumed && !tls->session_reused()) ++not_resumed;
  std::byte reply{};
  if (w == Workload::bulk) {
    std::vector<std::byte> data(kWriteChunk, std::byte{0x5a});
    std::byte header[9];
    header[0] = std::byte{'b'};
    std::memcpy(header + 1, &bulk_bytes, 8);
    if (auto s = co_await tls->send_all(header); !s) co_return s.error();
    for (std::uint64_t left = bulk_bytes; left > 0;) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, data.size()));
      if (auto s = co_await tls->send_all({data.data(), n}); !s) co_return s.error();
      left -= n;
    }
  } else {
    std::byte ping{'h'};
    if (auto s = co_await tls->send_all({&ping, 1}); !s) co_return s.error();
  }
  if (auto r = co_await tls->recv_exactly({&reply, 1}); !r) co_return r.error();
  if (auto ec = co_await tls->shutdown()) co_return ec;
  std::byte end[1];
  co_await tls->recv(end);
  co_return std::error_code{};
}

Measurement run_rfarm(BackendKind backend, const Pki& pki, Workload w, std::size_t count, std::uint64_t bulk_bytes) {
  std::promise<Address> bound;
  std::atomic<Reactor*> server_reactor{nullptr};
  double server_cpu = 0;
  std::thread server([&] {
    auto reactor = Reactor::create(options_for(backend)).value();
    auto ctx = TlsContext::server({.certificate_chain_file = pki.cert, .private_key_file = pki.key});
    if (!ctx) die("server context: " + ctx.error().message());
    auto listener = StreamListener::listen(*reactor, Address::loopback_v4(0)).value();
    reactor->spawn(rfarm_accept(*reactor, listener, *ctx));
    server_reactor = reactor.get();
    bound.set_value(*listener.local_address());
    double cpu0 = thread_cpu_seconds();
    reactor->run();
    server_cpu = thread_cpu_seconds() - cpu0;
  });
  Address where = bound.get_future().get();
  Measurement result;
  {
    auto reactor = Reactor::create(options_for(backend)).value();
    auto ctx = TlsContext::client({.ca_file = pki.cert});
    if (!ctx) die("client context: " + ctx.error().message());
    TlsSessionCache cache;
    TlsSessionCache* use_cache = w == Workload::handshake_resumed ? &cache : nullptr;
    if (use_cache) {  // the first session, not measured
      std::size_t ignored = 0;
      if (auto ec = reactor->block_on(rfarm_one(*reactor, where, *ctx, use_cache, Workload::handshake_new, 0, ignored)))
        die("rfarm warm-up: " + ec.message());
    }
    double cpu0 = thread_cpu_seconds();
    auto t0 = Clock::now();
    std::size_t n = w == Workload::bulk ? 1 : count;
    for (std::size_t i = 0; i < n; ++i) {
      if (auto ec = reactor->block_on(rfarm_one(*reactor, where, *ctx, use_cache, w, bulk_bytes, result.not_resumed)))
        die("rfarm client: " + ec.message());
    }
    result.wall_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    result.cpu_seconds = thread_cpu_seconds() - cpu0;
    result.operations = n;
  }
  server_reactor.load()->stop();
  server.join();
  result.cpu_seconds += server_cpu;
  return result;
}

// --- plain blocking OpenSSL ------------------------------------------------------------------------------------

SSL_CTX* plain_context(bool server, const Pki& pki) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (server) {
    SSL_CTX_use_certificate_chain_file(ctx, pki.cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx, pki.key.c_str(), SSL_FILETYPE_PEM);
  } else {
    SSL_CTX_load_verify_file(ctx, pki.cert.c_str());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

bool read_exact(SSL* ssl, void* out, std::size_t n) {
  auto* p = static_cast<char*>(out);
  while (n > 0) {
    std::size_t got = 0;
    if (SSL_read_ex(ssl, p, n, &got) != 1) return false;
    p += got;
    n -= got;
  }
  return true;
}

void plain_serve(SSL_CTX* ctx, int fd) {
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  char mode = 0;
  if (SSL_accept(ssl) == 1 && read_exact(ssl, &mode, 1)) {
    bool ok = true;
    if (mode == 'b') {
      std::uint64_t left = 0;
      ok = read_exact(ssl, &left, 8);
      std::vector<char> sink(kReadChunk);
      while (ok && left > 0) {
        std::size_t got = 0;
        ok = SSL_read_ex(ssl, sink.data(), std::min<std::uint64_t>(left, sink.size()), &got) == 1;
        left -= got;
      }
      mode = 'k';
    }
    std::size_t written = 0;
    if (ok && SSL_write_ex(ssl, &mode, 1, &written) == 1) {
      char end;
      std::size_t got = 0;
      SSL_read_ex(ssl, &end, 1, &got);  // fails with ZERO_RETURN at close_notify
      SSL_shutdown(ssl);
    }
  }
  SSL_free(ssl);
  ::close(fd);
}

Measurement run_plain(const Pki& pki, Workload w, std::size_t count, std::uint64_t bulk_bytes) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 128) != 0)
    die("plain listener");
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  std::size_t connections = (w == Workload::bulk ? 1 : count) + (w == Workload::handshake_resumed ? 1 : 0);
  double server_cpu = 0;
  std::thread server([&] {
    SSL_CTX* ctx = plain_context(true, pki);
    double cpu0 = thread_cpu_seconds();
    for (std::size_t i = 0; i < connections; ++i) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      plain_serve(ctx, fd);
    }
    server_cpu = thread_cpu_seconds() - cpu0;
    SSL_CTX_free(ctx);
  });
  SSL_CTX* ctx = plain_context(false, pki);
  SSL_SESSION* session = nullptr;
  Measurement result;
  auto one = [&](Workload kind, bool keep_session) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("plain connect");
    int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    SSL* ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
    if (session && kind == Workload::handshake_resumed) SSL_set_session(ssl, session);
    if (SSL_connect(ssl) != 1) die("plain SSL_connect");
    if (kind == Workload::handshake_resumed && !SSL_session_reused(ssl)) ++result.not_resumed;
    std::size_t written = 0;
    if (kind == Workload::bulk) {
      std::vector<char> data(kWriteChunk, 0x5a);
      char header[9] = {'b'};
      std::memcpy(header + 1, &bulk_bytes, 8);
      SSL_write_ex(ssl, header, sizeof header, &written);
      for (std::uint64_t left = bulk_bytes; left > 0;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, data.size()));
        if (SSL_write_ex(ssl, data.data(), n, &written) != 1) die("plain SSL_write");
        left -= n;
      }
    } else {
      SSL_write_ex(ssl, "h", 1, &written);
    }
    char reply;
    if (!read_exact(ssl, &reply, 1)) die("plain reply");
    if (keep_session) {
      if (session) SSL_SESSION_free(session);
      session = SSL_get1_session(ssl);
    }
    SSL_shutdown(ssl);
    char end;
    std::size_t got = 0;
    SSL_read_ex(ssl, &end, 1, &got);
    SSL_free(ssl);
    ::close(fd);
  };
  if (w == Workload::handshake_resumed) one(Workload::handshake_new, true);  // the first session
  double cpu0 = thread_cpu_seconds();
  auto t0 = Clock::now();
  std::size_t n = w == Workload::bulk ? 1 : count;
  for (std::size_t i = 0; i < n; ++i) one(w, false);
  result.wall_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  result.cpu_seconds = thread_cpu_seconds() - cpu0;
  result.operations = n;
  server.join();
  result.cpu_seconds += server_cpu;
  if (session) SSL_SESSION_free(session);
  SSL_CTX_free(ctx);
  ::close(listener);
  return result;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t handshakes = 400;
  std::uint64_t bulk_mib = 128;
  int rounds = 3;
  BackendKind backend = BackendKind::epoll;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value for " + arg);
      return argv[++i];
    };
    if (arg == "--handshakes")
      handshakes = std::stoul(value());
    else if (arg == "--bulk-mib")
      bulk_mib = std::stoull(value());
    else if (arg == "--rounds")
      rounds = std::max(1, std::stoi(value()));
    else if (arg == "--backend")
      backend = parse_backend_kind(value()).value_or(BackendKind::epoll);
    else if (arg == "--json")
      json_path = value();
    else
      die("usage: tls_bench [--handshakes N] [--bulk-mib M] [--rounds R] [--backend epoll|uring] [--json FILE]");
  }
  Pki pki;
  make_pki(pki);
  {
    auto probe = Reactor::create(options_for(backend));
    if (!probe || (*probe)->backend_kind() != backend)
      die("backend " + std::string(to_string(backend)) + " unavailable");
  }

  struct Row {
    const char* name;
    Workload workload;
    const char* unit;  // what one operation is
  } rows[] = {{"handshake_new", Workload::handshake_new, "handshakes"},
              {"handshake_resumed", Workload::handshake_resumed, "handshakes"},
              {"bulk", Workload::bulk, "MiB"}};
  std::string json = "{\n  \"backend\": \"" + std::string(to_string(backend)) + "\",\n  \"workloads\": {";
  std::printf("tls_bench: %s backend, %zu handshakes, %llu MiB bulk, median of %d interleaved rounds\n",
              std::string(to_string(backend)).c_str(), handshakes, static_cast<unsigned long long>(bulk_mib), rounds);
  bool first_row = true;
  for (const Row& row : rows) {
    std::vector<double> rate[2], cpu_us[2];
    std::size_t not_resumed[2] = {0, 0};
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < 2; ++k) {
        int impl = (r % 2 == 0) ? k : 1 - k;  // alternate who goes first
        Measurement res = impl == 0 ? run_rfarm(backend, pki, row.workload, handshakes, bulk_mib << 20)
                                    : run_plain(pki, row.workload, handshakes, bulk_mib << 20);
        double ops =
            row.workload == Workload::bulk ? static_cast<double>(bulk_mib) : static_cast<double>(res.operations);
        rate[impl].push_back(ops / res.wall_seconds);
        cpu_us[impl].push_back(res.cpu_seconds * 1e6 / ops);
        not_resumed[impl] += res.not_resumed;
      }
    }
    double rf = median(rate[0]), os = median(rate[1]);
    double rf_cpu = median(cpu_us[0]), os_cpu = median(cpu_us[1]);
    std::printf(
        "  %-18s %s/s: rfarm %9.1f  openssl %9.1f  ratio %.2f | CPU us per op: rfarm %8.1f  openssl %8.1f  ratio "
        "%.2f\n",
        row.name, row.unit, rf, os, rf / os, rf_cpu, os_cpu, rf_cpu / os_cpu);
    if (not_resumed[0] + not_resumed[1] > 0)
      std::printf("  %-18s WARNING: %zu rfarm and %zu openssl handshakes were not resumed\n", row.name, not_resumed[0],
                  not_resumed[1]);
    char buf[512];
    std::snprintf(
        buf, sizeof buf,
        "%s\n    \"%s\": {\"unit\": \"%s\", \"rfarm_per_s\": %.2f, \"openssl_per_s\": %.2f, \"rate_ratio\": %.3f, "
        "\"rfarm_cpu_us\": %.2f, \"openssl_cpu_us\": %.2f, \"cpu_ratio\": %.3f}",
        first_row ? "" : ",", row.name, row.unit, rf, os, rf / os, rf_cpu, os_cpu, rf_cpu / os_cpu);
    json += buf;
    first_row = false;
  }
  json += "\n  }\n}\n";
  if (!json_path.empty()) {
    if (std::FILE* f = std::fopen(json_path.c_str(), "w")) {
      std::fputs(json.c_str(), f);
      std::fclose(f);
    }
  }
  return 0;
}

// echo-server, tested as a program: started as a child process on an ephemeral port or a Unix socket, it must
// print its endpoint first, echo to real peers that are not rfarm (Python's socket module, socat) including
// peers that half-close, and exit with status 0 on SIGTERM.
//
// The build passes the programs in the environment: RFARM_ECHO_SERVER (required), RFARM_PYTHON3 and
// RFARM_SOCAT (tests needing a missing one skip and say so).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test/support/byte_pattern.hpp"
#include "test/support/temp_dir.hpp"
#include "reactor/net/endpoint.hpp"

extern char** environ;

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// A child process. Destroying it kills (SIGKILL) and reaps it if it is still running.
class Child {
 public:
  // stdin / stdout / stderr of the child are the given descriptors (-1: inherit ours).
  static std::optional<Child> spawn(const std::vector<std::string>& argv, int in, int out, int err,
                                    const std::vector<std::string>& extra_env = {}) {
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    if (in >= 0) ::posix_spawn_file_actions_adddup2(&actions, in, 0);
    if (out >= 0) ::posix_spawn_file_actions_adddup2(&actions, out, 1);
    if (err >= 0) ::posix_spawn_file_actions_adddup2(&actions, err, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::vector<std::string> env_strings = extra_env;
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    for (char** e = environ; *e; ++e) envp.push_back(*e);  // the extras come first and so take precedence
    envp.push_back(nullptr);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      ADD_FAILURE() << "posix_spawn " << argv[0] << ": " << std::strerror(rc);
      return std::nullopt;
    }
    return Child(pid);
  }

  Child(Child&& other) noexcept : pid_(std::exchange(other.pid_, -1)) {}
  Child& operator=(Child&& other) noexcept {
    if (this != &other) {
      kill_and_reap();
      pid_ = std::exchange(other.pid_, -1);
    }
    return *this;
  }
  ~Child() { kill_and_reap(); }

  pid_t pid() const { return pid_; }

  // The wait status once the child has exited, or nothing if it is still running after limit.
  std::optional<int> wait_for(milliseconds limit) {
    auto deadline = steady_clock::now() + limit;
    for (;;) {
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return status;
      }
      if (steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  explicit Child(pid_t pid) : pid_(pid) {}
  void kill_and_reap() noexcept {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  pid_t pid_;
};

// One line from fd (without the newline), or nothing if none arrives within limit.
std::optional<std::string> read_line(int fd, milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  std::string line;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char c;
    if (::read(fd, &c, 1) != 1) return std::nullopt;
    if (c == '\n') return line;
    line += c;
  }
}

// The Python peer: connects to the endpoint (tcp:HOST:PORT, unix:PATH, unix:@NAME), sends its stdin while
// reading, half-closes with shutdown(SHUT_WR) once everything is sent, reads until the server closes, and
// writes what came back to stdout.
constexpr const char* kPythonPeer = R"(
import socket, sys, threading
scheme, _, rest = sys.argv[1].partition(':')
if scheme == 'tcp':
    host, _, port = rest.rpartition(':')
    sock = socket.create_connection((host.strip('[]'), int(port)), timeout=20)
else:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(20)
    sock.connect('\0' + rest[1:] if rest.startswith('@') else rest)
payload = sys.stdin.buffer.read()
def send():
    sock.sendall(payload)
    sock.shutdown(socket.SHUT_WR)
sender = threading.Thread(target=send)
sender.start()
received = bytearray()
while True:
    chunk = sock.recv(65536)
    if not chunk:
        break
    received += chunk
sender.join()
sys.stdout.buffer.write(received)
)";

// Starts echo-server and stops it; runs peers against it.
class EchoServerHarness : public ::testing::Test {
 protected:
  void SetUp() override {
    server_program_ = env("RFARM_ECHO_SERVER");
    if (server_program_.empty()) GTEST_SKIP() << "RFARM_ECHO_SERVER is not set (meson sets it to the built echo-server)";
    ASSERT_TRUE(dir_.ok());
  }

  void TearDown() override {
    if (::testing::Test::HasFailure() && !stderr_path_.empty())
      std::fprintf(stderr, "echo-server stderr:\n%s\n", read_file(stderr_path_).c_str());
    forget_server();
  }

  // Kills the server if it still runs and closes its pipe, so the next start_server() starts afresh.
  void forget_server() {
    server_.reset();
    if (stdout_read_ >= 0) ::close(std::exchange(stdout_read_, -1));
  }

  // Starts echo-server with the arguments; returns the endpoint it printed first (empty if it printed
  // nothing within 5 s).
  std::string start_server(std::vector<std::string> args, const std::vector<std::string>& extra_env = {}) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return {};
    stderr_path_ = dir_.file("server.stderr");
    int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    args.insert(args.begin(), server_program_);
    server_ = Child::spawn(args, -1, out[1], err, extra_env);
    ::close(out[1]);
    ::close(err);
    stdout_read_ = out[0];
    if (!server_) return {};
    return read_line(stdout_read_, 5000ms).value_or("");
  }

  // SIGTERM, then the wait status (nothing if it did not exit within 5 s).
  std::optional<int> stop_server() {
    if (!server_) return std::nullopt;
    ::kill(server_->pid(), SIGTERM);
    return server_->wait_for(5000ms);
  }

  std::string server_stderr() const { return read_file(stderr_path_); }

  // Runs a peer program with payload on stdin; returns its stdout, or nothing if it failed (reported).
  std::optional<std::string> run_peer(const std::vector<std::string>& argv, const std::string& payload) {
    std::string id = std::to_string(peer_runs_++);
    std::string in_path = dir_.file("peer" + id + ".in");
    std::string out_path = dir_.file("peer" + id + ".out");
    std::string err_path = dir_.file("peer" + id + ".err");
    write_file(in_path, payload);
    int in = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    auto peer = Child::spawn(argv, in, out, err);
    ::close(in);
    ::close(out);
    ::close(err);
    if (!peer) return std::nullopt;
    std::optional<int> status = peer->wait_for(20000ms);
    if (!status) {
      ADD_FAILURE() << argv[0] << " did not finish within 20 s";
      return std::nullopt;
    }
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0) {
      ADD_FAILURE() << argv[0] << ": " << describe_status(*status) << "\n" << read_file(err_path);
      return std::nullopt;
    }
    return read_file(out_path);
  }

  std::optional<std::string> run_python_peer(const std::string& endpoint, const std::string& payload) {
    return run_peer({python_, "-c", kPythonPeer, endpoint}, payload);
  }

  std::optional<std::string> run_socat_peer(const std::string& socat_address, const std::string& payload) {
    // socat half-closes when its stdin ends, then waits up to -t seconds for the server to close: longer than
    // run_peer waits, so a server that never closes after the half-close fails the test instead of passing late.
    return run_peer({socat_, "-t", "60", "-", socat_address}, payload);
  }

  // GTEST_SKIP only leaves this helper: callers follow it with `if (IsSkipped()) return;`.
  void require_python() {
    python_ = env("RFARM_PYTHON3");
    if (python_.empty()) GTEST_SKIP() << "python3 not found at configure time (RFARM_PYTHON3 unset)";
  }
  void require_socat() {
    socat_ = env("RFARM_SOCAT");
    if (socat_.empty()) GTEST_SKIP() << "socat not installed (RFARM_SOCAT unset): apt-get install socat";
  }

  TempDir dir_;

 private:
  std::string server_program_;
  std::string python_;
  std::string socat_;
  std::optional<Child> server_;
  int stdout_read_ = -1;
  std::string stderr_path_;
  int peer_runs_ = 0;
};

// The echo tests run once per backend (--backend epoll / uring) and per serving path: the default runtime of
// one reactor per CPU ("epoll"), and the single reactor of --threads 1 ("epoll_1core"); tcp: and unix:
// connections in the default callback style and, for "_coroutine", in --style coroutine. The server says which
// backend it runs on (RFARM_LOG=info); a uring instance on a kernel without io_uring skips, quoting the
// server's reason.
class EchoServerTest : public EchoServerHarness, public ::testing::WithParamInterface<std::string> {
 protected:
  std::string backend() const { return GetParam().substr(0, GetParam().find('_')); }
  // --backend, --threads 1 for the single-reactor variants, --style coroutine for the coroutine ones.
  std::vector<std::string> server_args(const std::string& listen) const {
    std::vector<std::string> args{"--listen", listen, "--backend", backend()};
    if (GetParam().find("_1core") != std::string::npos) args.insert(args.end(), {"--threads", "1"});
    if (GetParam().ends_with("_coroutine"))
      args.insert(args.end(), {"--style", "coroutine"});
    return args;
  }
  std::string start(const std::string& listen) {
    std::string endpoint = start_server(server_args(listen), {"RFARM_LOG=info"});
    if (endpoint.empty()) return endpoint;
    // "echo-server on <backend> backend" follows the endpoint line on stderr.
    auto deadline = steady_clock::now() + 5s;
    std::string log;
    while ((log = server_stderr()).find("echo-server on ") == std::string::npos && steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    if (log.find("echo-server on " + backend() + " backend") == std::string::npos) {
      std::string first_line = log.substr(0, log.find('\n'));
      skipped_ = "the server did not run on " + backend() + ": " + first_line;
    }
    return endpoint;
  }
  // Non-empty when the requested backend was unavailable (the test then skips).
  std::string skipped_;
};

#define START_OR_SKIP(endpoint_var, listen)                                          \
  std::string endpoint_var = start(listen);                                         \
  ASSERT_FALSE(endpoint_var.empty()) << "echo-server printed no endpoint line";      \
  if (!skipped_.empty()) GTEST_SKIP() << "io_uring unavailable on this kernel: " << skipped_

TEST_P(EchoServerTest, PrintsTheBoundTcpEndpointFirst) {
  START_OR_SKIP(endpoint, "tcp:127.0.0.1:0");
  auto parsed = EndpointSpec::parse(endpoint);
  ASSERT_TRUE(parsed) << "first line is not an endpoint: " << endpoint;
  EXPECT_EQ(parsed->transport, Transport::tcp);
  EXPECT_EQ(parsed->address.ip_string(), "127.0.0.1");
  EXPECT_NE(parsed->address.port(), 0) << "port 0 must be replaced by the bound port";
}

TEST_P(EchoServerTest, EchoesToAPythonPeerThatHalfCloses) {
  require_python();
  if (IsSkipped()) return;
  START_OR_SKIP(endpoint, "tcp:127.0.0.1:0");
  std::string payload = pattern(1 << 20, 1);
  auto reply = run_python_peer(endpoint, payload);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->size(), payload.size());
  EXPECT_TRUE(*reply == payload) << "the echoed bytes differ";
}

TEST_P(EchoServerTest, EchoesToSeveralPythonPeersOneAfterAnother) {
  require_python();
  if (IsSkipped()) return;
  START_OR_SKIP(endpoint, "tcp:127.0.0.1:0");
  for (std::uint32_t i = 0; i < 3; ++i) {
    std::string payload = pattern(1000 * (i + 1), 10 + i);
    auto reply = run_python_peer(endpoint, payload);
    ASSERT_TRUE(reply);
    EXPECT_TRUE(*reply == payload) << "peer " << i;
  }
}

TEST_P(EchoServerTest, EchoesAnEmptyExchangeAndClosesOnHalfClose) {
  require_python();
  if (IsSkipped()) return;
  START_OR_SKIP(endpoint, "tcp:127.0.0.1:0");
  auto reply = run_python_peer(endpoint, "");
  ASSERT_TRUE(reply);
  EXPECT_EQ(*reply, "");
}

TEST_P(EchoServerTest, EchoesToSocat) {
  require_socat();
  if (IsSkipped()) return;
  START_OR_SKIP(endpoint, "tcp:127.0.0.1:0");
  std::string payload = pattern(256 * 1024, 2);
  auto reply = run_socat_peer("TCP:" + endpoint.substr(4), payload);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->size(), payload.size());
  EXPECT_TRUE(*reply == payload);
}

TEST_P(EchoServerTest, EchoesOverAUnixPathToAPythonPeer) {
  require_python();
  if (IsSkipped()) return;
  std::string path = dir_.file("echo.sock");
  START_OR_SKIP(endpoint, "unix:" + path);
  EXPECT_EQ(endpoint, "unix:" + path);
  std::string payload = pattern(300'000, 3);
  auto reply = run_python_peer(endpoint, payload);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(*reply == payload);
}

TEST_P(EchoServerTest, EchoesOverAUnixPathToSocat) {
  require_socat();
  if (IsSkipped()) return;
  std::string path = dir_.file("socat.sock");
  START_OR_SKIP(endpoint, "unix:" + path);
  std::string payload = pattern(100'000, 4);
  auto reply = run_socat_peer("UNIX-CONNECT:" + path, payload);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(*reply == payload);
}

TEST_P(EchoServerTest, EchoesOverAnAbstractUnixName) {
  require_python();
  if (IsSkipped()) return;
  // One name per parameter: the previous parameter's server may still be exiting, holding its name.
  std::string name = "rfarm-echo-test-" + std::to_string(::getpid()) + "-" + std::string(GetParam());
  START_OR_SKIP(endpoint, "unix:@" + name);
  EXPECT_EQ(endpoint, "unix:@" + name);
  std::string payload = pattern(50'000, 5);
  auto reply = run_python_peer(endpoint, payload);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(*reply == payload);
}

TEST_P(EchoServerTest, SigtermWithAConnectionOpenExitsWithStatusZero) {
  START_OR_SKIP(endpoint, "tcp:127.0.0.1:0");
  auto parsed = EndpointSpec::parse(endpoint);
  ASSERT_TRUE(parsed);
  // An idle client keeps one echo task suspended in a receive while the server shuts down.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(::connect(fd, parsed->address.native(), parsed->address.native_length()), 0);
  ASSERT_EQ(::send(fd, "ping", 4, 0), 4);
  char buf[4];
  ASSERT_EQ(::recv(fd, buf, 4, MSG_WAITALL), 4);
  EXPECT_EQ(std::string(buf, 4), "ping");
  auto status = stop_server();
  ::close(fd);
  ASSERT_TRUE(status) << "echo-server did not exit within 5 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_status(*status);
}

TEST_P(EchoServerTest, SigtermRightAfterTheEndpointLineExitsWithStatusZero) {
  // Scripts start the server, read its endpoint and may stop it at once: by the time the endpoint is
  // printed, SIGTERM must already be handled (not kill the process).
  START_OR_SKIP(endpoint, "tcp:127.0.0.1:0");
  auto status = stop_server();
  ASSERT_TRUE(status) << "echo-server did not exit within 5 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_status(*status);
}

INSTANTIATE_TEST_SUITE_P(Backends, EchoServerTest,
                         ::testing::Values("epoll", "uring", "epoll_1core", "uring_1core", "epoll_coroutine",
                                           "uring_1core_coroutine"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

using EchoServerStartupTest = EchoServerHarness;

TEST_F(EchoServerStartupTest, SigtermImmediatelyAfterTheEndpointLineExitsWithStatusZero) {
  // Without waiting for anything else: the signal handlers must be in place before the endpoint is printed.
  for (int i = 0; i < 20; ++i) {
    std::string endpoint = start_server({"--listen", "tcp:127.0.0.1:0"});
    ASSERT_FALSE(endpoint.empty());
    auto status = stop_server();
    ASSERT_TRUE(status) << "did not exit within 5 s of SIGTERM";
    ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "run " << i << ": " << describe_status(*status);
    forget_server();
  }
}

TEST_F(EchoServerStartupTest, MissingListenArgumentIsAUsageError) {
  std::string endpoint = start_server({});
  EXPECT_TRUE(endpoint.empty());
  auto status = stop_server();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << describe_status(*status);
  EXPECT_NE(server_stderr().find("--listen is required"), std::string::npos) << server_stderr();
}

TEST_F(EchoServerStartupTest, StyleOnADatagramListenerIsAUsageError) {
  std::string endpoint = start_server({"--listen", "udp:127.0.0.1:0", "--style", "coroutine"});
  EXPECT_TRUE(endpoint.empty());
  auto status = stop_server();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << describe_status(*status);
  EXPECT_NE(server_stderr().find("--style is for tcp: and unix: listeners"), std::string::npos) << server_stderr();
}

TEST_F(EchoServerStartupTest, MalformedEndpointIsAUsageError) {
  std::string endpoint = start_server({"--listen", "carrier-pigeon:coop"});
  EXPECT_TRUE(endpoint.empty());
  auto status = stop_server();
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 2) << describe_status(*status);
}

TEST_F(EchoServerStartupTest, PortInUseFailsWithStatusOne) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof sin;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len);
  std::string endpoint = start_server({"--listen", "tcp:127.0.0.1:" + std::to_string(ntohs(sin.sin_port))});
  EXPECT_TRUE(endpoint.empty());
  auto status = stop_server();
  ::close(fd);
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1) << describe_status(*status);
}


// A unix: socket path is a file the server must treat with care: it replaces only a stale socket, refuses
// anything else (a regular file, a directory, a live server's socket) without touching it, and removes its
// own socket file when it exits cleanly.
class EchoServerUnixPathTest : public EchoServerTest {
 protected:
  // Runs echo-server to its exit (it must not start); returns its wait status and what it wrote on stderr.
  std::pair<std::optional<int>, std::string> run_refused(const std::string& listen) {
    std::string err_path = dir_.file("refused" + std::to_string(refused_runs_++) + ".stderr");
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    std::vector<std::string> argv{env("RFARM_ECHO_SERVER")};
    for (std::string& a : server_args(listen)) argv.push_back(std::move(a));
    auto child = Child::spawn(argv, -1, null, err);
    ::close(err);
    ::close(null);
    if (!child) return {std::nullopt, ""};
    auto status = child->wait_for(5000ms);
    return {status, read_file(err_path)};
  }
  int refused_runs_ = 0;
};

bool is_socket_file(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

TEST_P(EchoServerUnixPathTest, RefusesToReplaceARegularFileAndLeavesItIntact) {
  std::string path = dir_.file("f");
  write_file(path, "hi\n");
  auto [status, err] = run_refused("unix:" + path);
  ASSERT_TRUE(status) << "echo-server started on a regular file's path (it must refuse)";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << describe_status(*status);
  EXPECT_NE(err.find(path), std::string::npos) << "the error must name the path: " << err;
  EXPECT_EQ(read_file(path), "hi\n") << "the regular file was replaced or changed";
}

TEST_P(EchoServerUnixPathTest, RefusesADirectory) {
  std::string path = dir_.file("d");
  ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
  auto [status, err] = run_refused("unix:" + path);
  ::rmdir(path.c_str());
  ASSERT_TRUE(status) << "echo-server started on a directory's path";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << describe_status(*status);
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

TEST_P(EchoServerUnixPathTest, ASecondServerOnALiveSocketIsRefusedAndTheFirstKeepsServing) {
  require_python();
  if (IsSkipped()) return;
  std::string path = dir_.file("live.sock");
  START_OR_SKIP(endpoint, "unix:" + path);
  auto [status, err] = run_refused("unix:" + path);
  ASSERT_TRUE(status) << "a second echo-server started on a live server's socket";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) != 0) << describe_status(*status);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  std::string payload = pattern(10'000, 6);
  auto reply = run_python_peer(endpoint, payload);  // the first server still owns the path
  ASSERT_TRUE(reply);
  EXPECT_TRUE(*reply == payload);
}

// True once nothing accepts on the Unix socket at path (connect is refused), within limit. A killed process's
// descriptors are closed when it is reaped, but a socket an io_uring ring still references lives on until the
// kernel's asynchronous ring teardown (io_ring_exit_work) drops it, a few milliseconds later: until then the
// socket still accepts, so the path is, correctly, not yet stale.
bool becomes_stale(const std::string& path, milliseconds limit) {
  auto deadline = steady_clock::now() + limit;
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno == ECONNREFUSED;
    ::close(fd);
    if (refused) return true;
    if (steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
}

TEST_P(EchoServerUnixPathTest, AStaleSocketOfAKilledServerIsReplaced) {
  require_python();
  if (IsSkipped()) return;
  std::string path = dir_.file("stale.sock");
  START_OR_SKIP(first, "unix:" + path);
  forget_server();  // SIGKILL: no chance to clean up, the socket file stays behind
  ASSERT_TRUE(is_socket_file(path));
  ASSERT_TRUE(becomes_stale(path, 5000ms)) << "the killed server's socket still accepts after 5 s";
  START_OR_SKIP(endpoint, "unix:" + path);
  std::string payload = pattern(10'000, 7);
  auto reply = run_python_peer(endpoint, payload);
  ASSERT_TRUE(reply);
  EXPECT_TRUE(*reply == payload);
}

TEST_P(EchoServerUnixPathTest, ACleanExitRemovesTheSocketFile) {
  std::string path = dir_.file("clean.sock");
  START_OR_SKIP(endpoint, "unix:" + path);
  ASSERT_TRUE(is_socket_file(path));
  auto status = stop_server();
  ASSERT_TRUE(status) << "echo-server did not exit within 5 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << describe_status(*status);
  struct stat st {};
  EXPECT_NE(::lstat(path.c_str(), &st), 0) << "the socket file is still there after a clean exit";
}

INSTANTIATE_TEST_SUITE_P(Backends, EchoServerUnixPathTest, ::testing::Values("epoll", "uring", "epoll_1core", "uring_1core"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace rfarm::test

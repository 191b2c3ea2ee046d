// FarmServerProcess: a real farm-server started for a test. Its first stdout line (the bound endpoints) is read
// before start returns; every wait is bounded; a server still running when the object goes is stopped.
//
// The example-task server most tests want: the example module (RFARM_EXAMPLE_TASKS), one I/O thread, two
// workers, the backend under test; optionally inside a network namespace. Its stderr goes to the test's own.
//     auto s = FarmServerProcess::start(GetParam());            // std::nullopt: it did not come up (why: stderr)
//     Kernel kernel = start_kernel({s->spec()});
//     s->kill9();                                               // or stop() / resume() / terminate()
//
// Any command line (the farm-server tool's own tests): its stderr is kept in a file the test can search, and
// the object goes with a SIGTERM (a clean exit removes its socket files), then a SIGKILL after 5 s.
//     auto server = FarmServerProcess::start({"--listen", "tcp:127.0.0.1:0", "--log-level", "info"});
//     ASSERT_TRUE(server->ok()) << server->failure;
//     auto client = FarmTestClient::connect(server->endpoints[0]).value();
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "reactor/backend/backend_kind.hpp"
#include "reactor/net/endpoint.hpp"
#include "test/support/child_process.hpp"
#include "test/support/temp_dir.hpp"

extern char** environ;

namespace rfarm::test {

// A variable of the test's environment (the build's paths: RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS...), or "".
inline std::string env_text(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// The example-task farm-server (FarmServerProcess::start(options)).
struct FarmServerOptions {
  BackendKind backend = BackendKind::epoll;
  std::string listen = "tcp:127.0.0.1:0";  // a free port, or a fixed endpoint (a restart on the same address)
  std::vector<std::string> extra;          // appended to the command line
  int workers = 2;
  std::string netns;  // run through `ip netns exec NAME` (which execs: pid() is the server's own)
};

class FarmServerProcess {
 public:
  std::vector<EndpointSpec> endpoints;  // from the first stdout line
  std::string first_line;
  std::string failure;  // why it did not start

  // farm-server with the example tasks; std::nullopt (the reason on stderr) if it did not print its endpoint.
  static std::optional<FarmServerProcess> start(const FarmServerOptions& options) {
    std::vector<std::string> argv;
    if (!options.netns.empty()) argv = {"ip", "netns", "exec", options.netns};
    for (std::string a : {env_text("RFARM_FARM_SERVER"), std::string("--listen"), options.listen,
                          std::string("--module"), env_text("RFARM_EXAMPLE_TASKS"), std::string("--threads"),
                          std::string("1"), std::string("--workers"), std::to_string(options.workers),
                          std::string("--backend"), std::string(to_string(options.backend))})
      argv.push_back(std::move(a));
    // A namespace's addresses are not loopback, and farm-server refuses plaintext there unless told; the
    // namespaces are the test's own, reachable from nowhere else.
    if (!options.netns.empty()) argv.push_back("--insecure-plaintext");
    argv.insert(argv.end(), options.extra.begin(), options.extra.end());
    FarmServerProcess p(Exit::kill);
    p.launch(argv, /*capture_stderr=*/false, std::chrono::seconds(10));
    if (!p.ok()) {
      std::fprintf(stderr, "farm-server (RFARM_FARM_SERVER, RFARM_EXAMPLE_TASKS) did not start: %s\n",
                   p.failure.c_str());
      return std::nullopt;
    }
    return p;
  }
  static std::optional<FarmServerProcess> start(BackendKind backend, std::string listen = "tcp:127.0.0.1:0",
                                                std::vector<std::string> extra = {}, int workers = 2) {
    return start(FarmServerOptions{
        .backend = backend, .listen = std::move(listen), .extra = std::move(extra), .workers = workers, .netns = {}});
  }

  // Any command line: args after the program's path (RFARM_FARM_SERVER, or program if given). Never null;
  // ok() says whether it came up, failure why not.
  static std::unique_ptr<FarmServerProcess> start(const std::vector<std::string>& args, std::string program = {},
                                                  std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    auto p = std::make_unique<FarmServerProcess>(FarmServerProcess(Exit::terminate));
    if (program.empty()) program = env_text("RFARM_FARM_SERVER");
    if (program.empty()) {
      p->failure = "RFARM_FARM_SERVER is not set (run through meson test)";
      return p;
    }
    std::vector<std::string> argv{program};
    argv.insert(argv.end(), args.begin(), args.end());
    p->launch(argv, /*capture_stderr=*/true, limit);
    return p;
  }

  FarmServerProcess(FarmServerProcess&& o) noexcept
      : endpoints(std::move(o.endpoints)), first_line(std::move(o.first_line)), failure(std::move(o.failure)),
        exit_(o.exit_), dir_(std::move(o.dir_)), pid_(std::exchange(o.pid_, -1)), out_(std::exchange(o.out_, -1)),
        stderr_path_(std::move(o.stderr_path_)) {}
  FarmServerProcess& operator=(FarmServerProcess&&) = delete;
  FarmServerProcess(const FarmServerProcess&) = delete;
  ~FarmServerProcess() {
    if (pid_ > 0) {
      if (exit_ == Exit::terminate) {
        ::kill(pid_, SIGTERM);  // a clean exit removes its socket files and private module directory
        wait(std::chrono::seconds(5));
      } else {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (out_ >= 0) ::close(out_);
    if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
  }

  bool ok() const { return failure.empty() && pid_ > 0; }
  // The endpoint line as printed (one endpoint for the example-task server).
  const std::string& spec() const { return first_line; }
  pid_t pid() const { return pid_; }
  void signal(int signo) const {
    if (pid_ > 0) ::kill(pid_, signo);
  }
  void stop() const { signal(SIGSTOP); }
  void resume() const { signal(SIGCONT); }
  // SIGKILL, and the child reaped.
  void kill9() {
    signal(SIGKILL);
    wait(std::chrono::seconds(10));
  }
  // SIGTERM, then the exit status (-1: it had to be killed).
  int terminate() {
    signal(SIGTERM);
    return wait(std::chrono::seconds(10));
  }
  // The exit status (or 128 + signal), or -1 if it had to be killed after limit.
  int wait(std::chrono::milliseconds limit) { return wait_for_exit(pid_, limit); }
  // Whether it is still running.
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

  // Its stderr so far (the any-command-line form; empty otherwise).
  std::string stderr_text() const {
    std::ifstream in(stderr_path_, std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    return all.str();
  }
  // Descriptors the server holds open now (/proc/PID/fd), -1 if it cannot be read.
  int open_descriptors() const {
    DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
    if (d == nullptr) return -1;
    int n = 0;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
  }
  // Resident set size in KiB (VmRSS), -1 if it cannot be read.
  long rss_kib() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);)
      if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
    return -1;
  }

 private:
  // How a server still running goes with the object: the example-task server is killed (tests kill, freeze
  // and restart it at will), a server under test gets the chance of a clean exit.
  enum class Exit { kill, terminate };

  explicit FarmServerProcess(Exit exit) : exit_(exit), dir_(std::make_unique<TempDir>()) {}

  // Starts argv (stdin /dev/null, stdout a pipe, stderr a file or the test's own) and reads the endpoint line.
  void launch(std::vector<std::string> argv, bool capture_stderr, std::chrono::milliseconds limit) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      failure = std::string("pipe: ") + std::strerror(errno);
      return;
    }
    int err = -1;
    if (capture_stderr) {
      stderr_path_ = dir_->file("stderr");
      err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, in, 0);
    ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    if (err >= 0) ::posix_spawn_file_actions_adddup2(&actions, err, 2);
    std::vector<char*> c_args;
    for (std::string& a : argv) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    int rc = ::posix_spawnp(&pid_, c_args[0], &actions, nullptr, c_args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    if (err >= 0) ::close(err);
    ::close(in);
    out_ = out[0];
    if (rc != 0) {
      pid_ = -1;
      failure = "posix_spawn " + argv[0] + ": " + std::strerror(rc);
      return;
    }
    first_line = read_line(limit);
    if (first_line.empty()) {
      failure = "no endpoint line";
      if (capture_stderr) failure += "; stderr: " + stderr_text();
      return;
    }
    std::istringstream words(first_line);
    for (std::string word; words >> word;) {
      auto spec = EndpointSpec::parse(word);
      if (!spec) {
        failure = "unparsable endpoint " + word;
        return;
      }
      endpoints.push_back(*spec);
    }
  }

  std::string read_line(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    std::string line;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char c;
      if (::read(out_, &c, 1) != 1) return {};
      if (c == '\n') return line;
      line += c;
    }
  }

  Exit exit_;
  std::unique_ptr<TempDir> dir_;  // holds the stderr file
  pid_t pid_ = -1;
  int out_ = -1;
  std::string stderr_path_;
};

}  // namespace rfarm::test

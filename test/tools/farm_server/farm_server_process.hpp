// FarmServerProcess: a real farm-server started for a test, with its first stdout line (the bound endpoints)
// read, its stderr kept in a file the test can search, and a bounded wait for its exit. Killed if still
// running when the object goes.
//
//     auto server = FarmServerProcess::start({"--listen", "tcp:127.0.0.1:0", "--log-level", "info"});
//     ASSERT_TRUE(server->ok()) << server->failure;
//     auto client = FarmTestClient::connect(server->endpoints[0]).value();
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "reactor/net/endpoint.hpp"
#include "test/support/temp_dir.hpp"
#include "test/tools/tool_runner.hpp"

extern char** environ;

namespace rfarm::test {

class FarmServerProcess {
 public:
  std::vector<EndpointSpec> endpoints;  // from the first stdout line
  std::string first_line;
  std::string failure;                  // why it did not start

  // argv after the program's path (which comes from RFARM_FARM_SERVER, or program if given).
  static std::unique_ptr<FarmServerProcess> start(const std::vector<std::string>& args, std::string program = {},
                                                  std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    std::unique_ptr<FarmServerProcess> owner(new FarmServerProcess());
    FarmServerProcess& p = *owner;
    if (program.empty()) program = tool_path("RFARM_FARM_SERVER");
    if (program.empty()) {
      p.failure = "RFARM_FARM_SERVER is not set (run through meson test)";
      return owner;
    }
    p.stderr_path_ = p.dir_.file("stderr");
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      p.failure = "pipe";
      return owner;
    }
    int err = ::open(p.stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, in, 0);
    ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    ::posix_spawn_file_actions_adddup2(&actions, err, 2);
    std::vector<std::string> argv{program};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> c_args;
    for (std::string& a : argv) c_args.push_back(a.data());
    c_args.push_back(nullptr);
    int rc = ::posix_spawn(&p.pid_, c_args[0], &actions, nullptr, c_args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err);
    ::close(in);
    p.out_ = out[0];
    if (rc != 0) {
      p.pid_ = -1;
      p.failure = "posix_spawn " + program + ": " + std::strerror(rc);
      return owner;
    }
    p.first_line = p.read_line(limit);
    if (p.first_line.empty()) {
      p.failure = "no endpoint line; stderr: " + p.stderr_text();
      return owner;
    }
    std::istringstream words(p.first_line);
    for (std::string word; words >> word;) {
      auto spec = EndpointSpec::parse(word);
      if (!spec) {
        p.failure = "unparsable endpoint " + word;
        return owner;
      }
      p.endpoints.push_back(*spec);
    }
    return owner;
  }

  FarmServerProcess(const FarmServerProcess&) = delete;
  FarmServerProcess& operator=(const FarmServerProcess&) = delete;
  ~FarmServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);  // a clean exit removes its socket files and private module directory
      wait(std::chrono::seconds(5));
    }
    if (out_ >= 0) ::close(out_);
    if (!stderr_path_.empty()) ::unlink(stderr_path_.c_str());
  }

  bool ok() const { return failure.empty() && pid_ > 0; }
  pid_t pid() const { return pid_; }
  void signal(int signo) const {
    if (pid_ > 0) ::kill(pid_, signo);
  }
  std::string stderr_text() const { return whole_file(stderr_path_); }

  // The exit status (or 128 + signal), or -1 if it had to be killed after limit.
  int wait(std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (pid_ > 0) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
        return -1;
      }
      ::usleep(2000);
    }
    return -1;
  }
  // Whether it is still running.
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  FarmServerProcess() = default;

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

  TempDir dir_;
  pid_t pid_ = -1;
  int out_ = -1;
  std::string stderr_path_;
};

}  // namespace rfarm::test

// ChildProcess: a real peer for a test (python3, socat, a tool under test) run as a child with its stdin and
// stdout on pipes. Every wait is bounded; the destructor kills and reaps a child still running.
//
//     auto py = ChildProcess::spawn({python3(), "-c", script, port}).value();
//     auto line = py.read_line(5s);            // std::nullopt on time-out or end of output
//     EXPECT_EQ(py.wait(5s), 0);               // exit status; -1 if it had to be killed
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/error.hpp"

extern char** environ;

namespace rfarm::test {

// The python3 the build found (RFARM_PYTHON3), else the one on PATH.
inline std::string python3() {
  const char* p = std::getenv("RFARM_PYTHON3");
  return p && *p ? p : "python3";
}

inline bool program_runs(const std::vector<std::string>& argv);

// Waits up to limit for the child pid to exit and reaps it (pid becomes -1): its exit status, 128 + the signal
// that ended it, or -1 when it had to be killed at the limit (or there was no child).
inline int wait_for_exit(pid_t& pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (pid > 0) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pid = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      pid = -1;
      return -1;
    }
    ::usleep(2000);
  }
  return -1;
}


class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept
      : pid_(std::exchange(o.pid_, -1)), in_(std::exchange(o.in_, -1)), out_(std::exchange(o.out_, -1)),
        pending_(std::move(o.pending_)) {}
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess() {
    if (in_ >= 0) ::close(in_);
    if (out_ >= 0) ::close(out_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  static Result<ChildProcess> spawn(const std::vector<std::string>& argv) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) return fail_errno();
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      return fail_errno();
    }
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    ::posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid = -1;
    int err = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    if (err != 0) {
      ::close(in[1]);
      ::close(out[0]);
      return fail(errno_code(err));
    }
    ChildProcess c;
    c.pid_ = pid;
    c.in_ = in[1];
    c.out_ = out[0];
    return c;
  }

  // The next line of the child's stdout (without the newline), or nullopt after limit or at end of output.
  std::optional<std::string> read_line(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (auto nl = pending_.find('\n'); nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      ssize_t n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      pending_.append(buf, static_cast<std::size_t>(n));
    }
  }

  // Writes to the child's stdin; close_stdin() sends it end of file.
  bool write(const std::string& text) { return ::write(in_, text.data(), text.size()) == static_cast<ssize_t>(text.size()); }
  void close_stdin() {
    if (in_ >= 0) ::close(std::exchange(in_, -1));
  }

  // The exit status (or 128 + signal); -1 if the child had to be killed after limit.
  int wait(std::chrono::milliseconds limit) { return wait_for_exit(pid_, limit); }

  void terminate() {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string pending_;
};

// Whether argv runs and exits 0 (e.g. {python3(), "-c", "import socket; socket.send_fds"}).
inline bool program_runs(const std::vector<std::string>& argv) {
  auto c = ChildProcess::spawn(argv);
  return c && c->wait(std::chrono::seconds(10)) == 0;
}

}  // namespace rfarm::test

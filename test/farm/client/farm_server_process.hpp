// FarmServerProcess: a real farm-server child (RFARM_FARM_SERVER) with the example task module
// (RFARM_EXAMPLE_TASKS), on a port of its choosing unless told one; its first stdout line is its endpoint.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "reactor/backend/backend_kind.hpp"
#include "test/support/child_process.hpp"

namespace rfarm::farm::test {

inline std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

class FarmServerProcess {
 public:
  // listen: "tcp:127.0.0.1:0" (a free port) or a fixed endpoint.
  static std::optional<FarmServerProcess> start(BackendKind backend, std::string listen = "tcp:127.0.0.1:0",
                                                std::vector<std::string> extra = {}, int workers = 2) {
    std::vector<std::string> argv{env_or_empty("RFARM_FARM_SERVER"), "--listen", listen, "--module",
                                  env_or_empty("RFARM_EXAMPLE_TASKS"), "--threads", "1", "--workers",
                                  std::to_string(workers),
                                  "--backend", backend == BackendKind::uring ? "uring" : "epoll"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = rfarm::test::ChildProcess::spawn(argv);
    if (!child) return std::nullopt;
    auto line = child->read_line(std::chrono::seconds(10));
    if (!line) return std::nullopt;
    return FarmServerProcess(std::move(*child), *line);
  }

  const std::string& spec() const { return spec_; }
  pid_t pid() const { return child_.pid(); }
  void kill9() { ::kill(child_.pid(), SIGKILL); }
  void stop() { ::kill(child_.pid(), SIGSTOP); }
  void resume() { ::kill(child_.pid(), SIGCONT); }
  // SIGTERM, then the exit status (-1: it had to be killed).
  int terminate() {
    child_.terminate();
    return child_.wait(std::chrono::seconds(10));
  }
  int wait(std::chrono::milliseconds limit) { return child_.wait(limit); }

 private:
  FarmServerProcess(rfarm::test::ChildProcess child, std::string spec)
      : child_(std::move(child)), spec_(std::move(spec)) {}
  rfarm::test::ChildProcess child_;
  std::string spec_;
};

}  // namespace rfarm::farm::test

// Runs a tool under test (echo-server, echo-client, mcast) as a child process to its end, with its stdout and
// stderr kept apart, so a test can check where each line went and the exit status.
//
//     auto r = run_tool({tool_path("RFARM_ECHO_CLIENT"), "--help"});
//     EXPECT_EQ(r.status, 0);  EXPECT_NE(r.out.find("Usage"), std::string::npos);  EXPECT_EQ(r.err, "");
//
// The build passes each tool's path in the environment (RFARM_ECHO_SERVER, RFARM_ECHO_CLIENT, RFARM_MCAST).
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/support/temp_dir.hpp"

extern char** environ;

namespace rfarm::test {

// The path the build gave in variable, or "" (the test should then skip).
inline std::string tool_path(const char* variable) {
  const char* p = std::getenv(variable);
  return p && *p ? p : "";
}

inline std::string whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

struct ToolRun {
  int status = -1;  // exit status, 128 + signal, or -1 if it had to be killed after the limit
  std::string out;  // everything on stdout
  std::string err;  // everything on stderr
  std::chrono::milliseconds took{0};

  // The lines of err (without their newlines).
  std::vector<std::string> err_lines() const {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < err.size()) {
      std::size_t nl = err.find('\n', start);
      if (nl == std::string::npos) nl = err.size();
      lines.push_back(err.substr(start, nl - start));
      start = nl + 1;
    }
    return lines;
  }
};

// Runs argv with extra "NAME=value" variables (they take precedence over ours; "NAME" alone removes the
// variable) and stdin from /dev/null; waits at most limit, then kills it.
inline ToolRun run_tool(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env = {},
                        std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  ToolRun run;
  TempDir dir;
  std::string out_path = dir.file("stdout"), err_path = dir.file("stderr");
  int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, in, 0);
  ::posix_spawn_file_actions_adddup2(&actions, out, 1);
  ::posix_spawn_file_actions_adddup2(&actions, err, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  auto overridden = [&](const char* entry) {
    for (const std::string& e : extra_env) {
      std::string name = e.substr(0, e.find('='));
      if (std::strncmp(entry, name.c_str(), name.size()) == 0 && entry[name.size()] == '=') return true;
    }
    return false;
  };
  for (const std::string& e : extra_env)
    if (e.find('=') != std::string::npos) env_strings.push_back(e);
  for (char** e = environ; *e; ++e)
    if (!overridden(*e)) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(in);
  ::close(out);
  ::close(err);
  if (rc != 0) {
    run.err = std::string("posix_spawn ") + argv[0] + ": " + std::strerror(rc);
    return run;
  }
  auto deadline = start + limit;
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      run.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  run.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  run.out = whole_file(out_path);
  run.err = whole_file(err_path);
  return run;
}

// For failure messages: what the tool printed.
inline std::string describe(const ToolRun& r) {
  return "status " + std::to_string(r.status) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

}  // namespace rfarm::test

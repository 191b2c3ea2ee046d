// A runtime with signal handling, run as a child process by shutdown_test.cpp (signals are process-wide:
// a test must not send them to itself). Prints "ready" once the runtime runs, "draining" when shutdown
// reaches the held connection (--hold), "stopped" when run() returned; exits 0 then.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "reactor/runtime/runtime.hpp"
#include "reactor/runtime/shutdown.hpp"

using namespace rfarm;
using namespace std::chrono_literals;

namespace {

void say(const char* line) {
  std::fputs(line, stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

// A connection that never ends by itself and whose close does nothing: only the deadline (60 s) or a
// second signal ends the drain.
Task<void> held_connection() {
  bool closed = false;
  ConnectionGuard live([&closed] { closed = true; });
  live.on_drain([] { say("draining"); });
  while (!closed) co_await this_reactor().sleep(10ms);
}

}  // namespace

int main(int argc, char** argv) {
  const bool hold = argc > 1 && std::strcmp(argv[1], "--hold") == 0;
  auto runtime = Runtime::create({.threads = 2, .handle_signals = true, .shutdown_deadline = 60s});
  if (!runtime) {
    std::fprintf(stderr, "Runtime::create: %s\n", runtime.error().message().c_str());
    return 1;
  }
  if (hold) (*runtime)->post(1, [] { this_reactor().spawn(held_connection()); });
  if ((*runtime)->start()) return 1;
  say("ready");
  (*runtime)->join();
  say("stopped");
  return 0;
}

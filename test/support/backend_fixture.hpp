// BackendTest: the fixture every reactor-level test uses. Each test gets a fresh Reactor on the backend named
// by the test parameter, so one test body checks a behaviour on epoll and on io_uring:
//
//     #include "test/support/backend_fixture.hpp"
//     using TimerTest = rfarm::test::BackendTest;
//     TEST_P(TimerTest, CancelPreventsFiring) { ... reactor() ... run(task()) ... }
//     RFARM_INSTANTIATE_BACKEND_TESTS(TimerTest);   // Backends/TimerTest.CancelPreventsFiring/epoll, .../uring
//
// A backend the kernel cannot run skips its instances with the reason (the reactor would silently fall
// back to epoll, which must not pass as an io_uring result). Every wait is bounded: run() and run_until()
// fail the test after a deadline instead of hanging the suite.
#pragma once

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_listener.hpp"
#include "reactor/net/stream_socket.hpp"

namespace rfarm {
// Prints a BackendKind parameter as its name in failure messages ("where GetParam() = uring"); found by ADL.
inline void PrintTo(BackendKind kind, std::ostream* out) { *out << to_string(kind); }
}  // namespace rfarm

namespace rfarm::test {

using namespace std::chrono_literals;

// How long any single run() / run_until() may take before the test fails.
inline constexpr Duration kDefaultLimit = 5s;

class BackendTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    ReactorOptions options;
    options.backend = GetParam();
    options.log_level = LogLevel::info;
    options.log_sink = [this](LogLevel, std::string_view message) { log_lines_.emplace_back(message); };
    adjust_options(options);
    auto created = Reactor::create(options);
    ASSERT_TRUE(created) << "Reactor::create: " << created.error().message();
    reactor_ = std::move(*created);
    if (reactor_->backend_kind() != GetParam()) {
      // The reactor logged why it fell back ("io_uring backend unavailable (<reason>); falling back to epoll").
      std::string why = log_lines_.empty() ? "the reactor chose " + std::string(to_string(reactor_->backend_kind()))
                                           : log_lines_.front();
      if (GetParam() == BackendKind::uring) GTEST_SKIP() << "io_uring unavailable on this kernel: " << why;
      GTEST_SKIP() << to_string(GetParam()) << " backend unavailable: " << why;
    }
  }

  void TearDown() override {
    reactor_.reset();  // destroys suspended spawned tasks while the fixture (and its log) still exists
    if (HasFailure())
      for (const std::string& line : log_lines_) std::fprintf(stderr, "reactor log: %s\n", line.c_str());
  }

  // Suites that need other reactor options (e.g. spin mode) override this.
  virtual void adjust_options(ReactorOptions&) {}

  Reactor& reactor() { return *reactor_; }
  const std::vector<std::string>& log_lines() const { return log_lines_; }

  // Runs task to completion on the reactor and returns its result. If it has not finished within limit the
  // test fails and run() throws (GoogleTest reports the exception; the task's frame is destroyed).
  template <class T>
  T run(Task<T> task, Duration limit = kDefaultLimit) {
    bool expired = false;
    TimerId watchdog = reactor_->after(limit, [&] {
      expired = true;
      reactor_->stop();
    });
    try {
      if constexpr (std::is_void_v<T>) {
        reactor_->block_on(std::move(task));
        reactor_->cancel(watchdog);
      } else {
        T value = reactor_->block_on(std::move(task));
        reactor_->cancel(watchdog);
        return value;
      }
    } catch (...) {
      reactor_->cancel(watchdog);
      if (!expired) throw;
      reactor_->run();  // one turn that consumes the stop request (block_on leaves it set)
      ADD_FAILURE() << "the task did not finish within "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(limit).count() << " ms";
      throw std::runtime_error("run(): deadline exceeded");
    }
  }

  // Runs loop turns until done() holds; fails (returns an AssertionFailure) if that takes longer than limit.
  [[nodiscard]] ::testing::AssertionResult run_until(const std::function<bool()>& done, Duration limit = kDefaultLimit) {
    bool expired = false;
    TimerId watchdog = reactor_->after(limit, [&] { expired = true; });
    while (!done() && !expired) reactor_->run_once();
    reactor_->cancel(watchdog);
    if (done()) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "condition not reached within "
                                         << std::chrono::duration_cast<std::chrono::milliseconds>(limit).count()
                                         << " ms";
  }

  // Runs loop turns for a while (to observe that something does NOT happen, or how often the loop turns).
  void run_for(Duration duration) {
    bool over = false;
    TimerId t = reactor_->after(duration, [&] { over = true; });
    while (!over) reactor_->run_once();
    reactor_->cancel(t);
  }

  // Whether ::1 can be bound here (containers often run without IPv6).
  static bool ipv6_loopback_available() {
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    Address a = Address::loopback_v6(0);
    bool ok = ::bind(fd, a.native(), a.native_length()) == 0;
    ::close(fd);
    return ok;
  }

  static Address loopback(AddressFamily family) {
    return family == AddressFamily::ipv6 ? Address::loopback_v6(0) : Address::loopback_v4(0);
  }

  // A listener on the loopback address of family, on an ephemeral port.
  Result<StreamListener> listen_loopback(AddressFamily family = AddressFamily::ipv4, const ListenOptions& options = {}) {
    return StreamListener::listen(*reactor_, loopback(family), options);
  }

  // A connected TCP pair over loopback: first the connecting side, second the accepted side.
  Result<std::pair<StreamSocket, StreamSocket>> tcp_pair(AddressFamily family = AddressFamily::ipv4) {
    auto listener = listen_loopback(family);
    if (!listener) return fail(listener.error());
    return run(connect_and_accept(*listener));
  }

  // Connects to listener and accepts that connection: {client, server}.
  Task<Result<std::pair<StreamSocket, StreamSocket>>> connect_and_accept(StreamListener& listener) {
    auto where = listener.local_address();
    if (!where) co_return fail(where.error());
    auto client = co_await StreamSocket::connect(*reactor_, *where, 2s);
    if (!client) co_return fail(client.error());
    auto server = co_await listener.accept();
    if (!server) co_return fail(server.error());
    co_return std::pair{std::move(*client), std::move(*server)};
  }

 private:
  std::vector<std::string> log_lines_;  // declared before the reactor: the reactor logs into it until its end
  std::unique_ptr<Reactor> reactor_;
};

// Names the instances "epoll" and "uring".
struct BackendName {
  std::string operator()(const ::testing::TestParamInfo<BackendKind>& info) const {
    return std::string(to_string(info.param));
  }
};

}  // namespace rfarm::test

// Instantiates a BackendTest-derived suite once per backend.
#define RFARM_INSTANTIATE_BACKEND_TESTS(Suite)                                                               \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                                                  \
                           ::testing::Values(::rfarm::BackendKind::epoll, ::rfarm::BackendKind::uring), \
                           ::rfarm::test::BackendName{})

// RuntimeTest: the fixture of the runtime's tests, parametrized over the backends like BackendTest.
//
//     using SubmitToTest = rfarm::test::RuntimeTest;
//     TEST_P(SubmitToTest, ReturnsTheValue) {
//       auto rt = make_runtime({.threads = 2});
//       int v = run_on(*rt, 0, [&]() -> Task<int> { co_return co_await rt->submit_to(1, [] { return 7; }); });
//     }
//     RFARM_INSTANTIATE_RUNTIME_TESTS(SubmitToTest);
//
// make_runtime() builds a Runtime whose every core runs the backend under test (io_uring instances skip,
// with the reason, where the kernel refuses it, as backend_fixture.hpp does), with signals left alone, and
// logs collected thread-safely (every core logs from its own thread). Every wait is bounded.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "reactor/runtime/runtime.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::test {

using namespace std::chrono_literals;

// Thread-safe collection of log lines from every core.
class SharedLog {
 public:
  Logger::Sink sink() {
    return [this](LogLevel, std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    };
  }
  std::vector<std::string> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

// A value another thread hands over once, waited for with a limit.
template <class T>
class Handoff {
 public:
  void set(T value) {
    {
      std::lock_guard lock(mutex_);
      value_.emplace(std::move(value));
    }
    cv_.notify_all();
  }
  std::optional<T> wait(Duration limit) {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, limit, [&] { return value_.has_value(); })) return std::nullopt;
    return std::move(value_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::optional<T> value_;
};

class RuntimeTest : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    // The reactor falls back to epoll where io_uring is refused; that must not pass as an io_uring result.
    ReactorOptions probe_options;
    probe_options.backend = GetParam();
    probe_options.log_sink = [](LogLevel, std::string_view) {};
    auto probe = Reactor::create(probe_options);
    ASSERT_TRUE(probe) << probe.error().message();
    if ((*probe)->backend_kind() != GetParam()) {
      GTEST_SKIP() << to_string(GetParam()) << " unavailable here: "
                   << (*probe)->backend_fallback_reason().message();
    }
  }

  void TearDown() override {
    if (HasFailure())
      for (const std::string& line : log_.lines()) std::fprintf(stderr, "runtime log: %s\n", line.c_str());
  }

  // A runtime on the backend under test; 2 cores unless options say otherwise. Not started.
  std::unique_ptr<Runtime> make_runtime(RuntimeOptions options = {}) {
    if (options.threads == 0) options.threads = 2;
    options.handle_signals = false;
    options.reactor.backend = GetParam();
    options.reactor.log_level = LogLevel::info;
    options.reactor.log_sink = log_.sink();
    auto created = Runtime::create(std::move(options));
    if (!created) throw std::runtime_error("Runtime::create: " + created.error().message());
    return std::move(*created);
  }

  // A started runtime (as make_runtime).
  std::unique_ptr<Runtime> start_runtime(RuntimeOptions options = {}) {
    auto runtime = make_runtime(std::move(options));
    if (std::error_code ec = runtime->start()) throw std::runtime_error("start: " + ec.message());
    return runtime;
  }

  // Runs body() as a coroutine on core (the runtime must be started) and returns its result, or fails the
  // test and throws after limit. The result travels in a shared block: a body that overruns cannot write
  // into this frame after it has gone.
  template <class T>
  T run_on(Runtime& runtime, unsigned core, std::function<Task<T>()> body, Duration limit = 10s) {
    using Stored = std::conditional_t<std::is_void_v<T>, bool, T>;
    struct Outcome {
      Handoff<std::pair<std::optional<Stored>, std::exception_ptr>> done;
    };
    auto outcome = std::make_shared<Outcome>();
    runtime.post(core, [outcome, body = std::move(body)]() mutable {
      this_reactor().spawn([](std::shared_ptr<Outcome> out, std::function<Task<T>()> make) -> Task<void> {
        try {
          if constexpr (std::is_void_v<T>) {
            co_await make();
            out->done.set({true, nullptr});
          } else {
            out->done.set({co_await make(), nullptr});
          }
        } catch (...) {
          out->done.set({std::nullopt, std::current_exception()});
        }
      }(outcome, std::move(body)));
    });
    auto result = outcome->done.wait(limit);
    if (!result) {
      ADD_FAILURE() << "the task on core " << core << " did not finish within "
                    << std::chrono::duration_cast<std::chrono::milliseconds>(limit).count() << " ms";
      throw std::runtime_error("run_on: deadline exceeded");
    }
    if (result->second) std::rethrow_exception(result->second);
    if constexpr (!std::is_void_v<T>) return std::move(*result->first);
  }

  // Runs fn() on core (plain function, from its loop) and returns its result; bounded like run_on.
  template <class F>
  auto call_on(Runtime& runtime, unsigned core, F fn, Duration limit = 10s) {
    using T = std::invoke_result_t<F&>;
    if constexpr (std::is_void_v<T>) {
      run_on<void>(runtime, core, [fn = std::move(fn)]() mutable -> Task<void> {
        fn();
        co_return;
      }, limit);
    } else {
      return run_on<T>(runtime, core, [fn = std::move(fn)]() mutable -> Task<T> { co_return fn(); }, limit);
    }
  }

  // Stops the runtime and waits (bounded) for every core.
  static void stop_and_join(Runtime& runtime, Duration limit = 5s) {
    runtime.stop();
    ASSERT_TRUE(runtime.join_for(limit)) << "the runtime did not stop within the limit";
  }

  std::vector<std::string> log_lines() const { return log_.lines(); }

  // The CPUs this process may run on.
  static std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
      for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    return cpus;
  }

 private:
  SharedLog log_;  // before any runtime: the cores log into it until they are gone
};

}  // namespace rfarm::test

#define RFARM_INSTANTIATE_RUNTIME_TESTS(Suite)                                                               \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite,                                                                  \
                           ::testing::Values(::rfarm::BackendKind::epoll, ::rfarm::BackendKind::uring), \
                           ::rfarm::test::BackendName{})

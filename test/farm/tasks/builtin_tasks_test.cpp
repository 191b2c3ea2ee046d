// The built-in tasks every server has: add, echo, sleep_ms, fail, info (with a fake server behind TaskContext).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>

#include "farm/tasks/builtin_tasks.hpp"
#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;

class FakeServer final : public ServerInfo {
 public:
  std::string version() const override { return "9.8.7"; }
  unsigned cores() const override { return 2; }
  unsigned workers() const override { return 3; }
  std::vector<ModuleInfo> modules() const override {
    return {{"example_tasks", std::string(64, 'a'), "libexample_tasks.so", {"count_primes", "word_count"}}};
  }
  std::chrono::milliseconds uptime() const override { return 12345ms; }
  std::uint64_t tasks_run() const override { return 99; }
};

class BuiltinTasksTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(register_builtin_tasks(registry_)); }

  template <class Fill>
  TaskOutcome call(std::string_view name, Fill fill, TaskContext context = TaskContext()) {
    flexbuffers::Builder args;
    args.Vector([&] { fill(args); });
    args.Finish();
    args_ = args.GetBuffer();
    return registry_.invoke(name, context, as_const_bytes(args_), out_);
  }
  std::string json() { return to_json(flexbuffers::GetRoot(out_.GetBuffer())); }

  TaskRegistry registry_;
  std::vector<std::uint8_t> args_;
  flexbuffers::Builder out_;
};

TEST_F(BuiltinTasksTest, AllFiveAreThereAndTheCheapOnesMayRunInline) {
  EXPECT_EQ(registry_.names(), (std::vector<std::string>{"add", "echo", "fail", "info", "sleep_ms"}));
  EXPECT_TRUE(registry_.find("add")->may_run_inline());
  EXPECT_TRUE(registry_.find("echo")->may_run_inline());
  EXPECT_TRUE(registry_.find("fail")->may_run_inline());
  EXPECT_TRUE(registry_.find("info")->may_run_inline());
  EXPECT_FALSE(registry_.find("sleep_ms")->may_run_inline()) << "it blocks: a worker's job";
  EXPECT_EQ(registry_.find("add")->origin, "builtin");
  auto again = register_builtin_tasks(registry_);
  EXPECT_FALSE(again) << "registering twice collides";
}

TEST_F(BuiltinTasksTest, AddSumsIntegersAsAnInteger) {
  ASSERT_TRUE(call("add", [](auto& b) {
    b.Int(1);
    b.Int(-2);
    b.UInt(40);
  }).ok());
  EXPECT_EQ(json(), "39");
  ASSERT_TRUE(call("add", [](auto&) {}).ok());
  EXPECT_EQ(json(), "0") << "the empty sum";
  ASSERT_TRUE(call("add", [](auto& b) {
    b.Int(std::numeric_limits<std::int64_t>::max());
    b.Int(1);
    b.Int(-2);
  }).ok()) << "only the final sum must fit";
  EXPECT_EQ(json(), "9223372036854775806");
}

TEST_F(BuiltinTasksTest, AddBecomesFloatWithAFloat) {
  ASSERT_TRUE(call("add", [](auto& b) {
    b.Int(1);
    b.Double(0.5);
    b.Int(2);
  }).ok());
  EXPECT_EQ(json(), "3.5");
}

TEST_F(BuiltinTasksTest, AddRefusesOverflowAndNonNumbers) {
  TaskOutcome o = call("add", [](auto& b) {
    b.Int(std::numeric_limits<std::int64_t>::max());
    b.Int(1);
  });
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "add: the integer sum overflows int64");
  o = call("add", [](auto& b) {
    b.Int(std::numeric_limits<std::int64_t>::min());
    b.Int(-1);
  });
  EXPECT_EQ(o.message(), "add: the integer sum overflows int64");
  o = call("add", [](auto& b) {
    b.Int(1);
    b.String("2");
  });
  EXPECT_EQ(o.kind(), FailureKind::bad_arguments);
  EXPECT_EQ(o.message(), "argument 2 of 'add': expected number, got string");
  o = call("add", [](auto& b) { b.UInt(std::numeric_limits<std::uint64_t>::max()); });
  EXPECT_EQ(o.message(), "argument 1 of 'add': 18446744073709551615 does not fit in int64");
  o = call("add", [](auto& b) { b.Bool(true); });
  EXPECT_EQ(o.message(), "argument 1 of 'add': expected number, got bool");
}

TEST_F(BuiltinTasksTest, EchoReturnsItsArguments) {
  ASSERT_TRUE(call("echo", [](auto& b) {
    b.Int(1);
    b.String("two");
    b.Map([&] { b.Vector("three", [&] { b.Null(); }); });
    b.Blob("\x04", 1);
  }).ok());
  EXPECT_EQ(json(), "[1, \"two\", {\"three\": [null]}, \"BA==\"]");
  ASSERT_TRUE(call("echo", [](auto&) {}).ok());
  EXPECT_EQ(json(), "[]");
}

TEST_F(BuiltinTasksTest, FailFailsWithTheMessage) {
  TaskOutcome o = call("fail", [](auto& b) { b.String("as requested"); });
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "as requested");
}

TEST_F(BuiltinTasksTest, SleepSleeps) {
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(call("sleep_ms", [](auto& b) { b.Int(30); }).ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_EQ(json(), "null");
  TaskOutcome o = call("sleep_ms", [](auto& b) { b.Int(-1); });
  EXPECT_EQ(o.kind(), FailureKind::bad_arguments);
  EXPECT_EQ(o.message(), "argument 1 of 'sleep_ms': -1 is not between 0 and 86400000");
}

TEST_F(BuiltinTasksTest, SleepStopsAtTheDeadline) {
  auto start = std::chrono::steady_clock::now();
  TaskOutcome o = call("sleep_ms", [](auto& b) { b.Int(60000); }, TaskContext({.deadline = start + 30ms}));
  EXPECT_EQ(o.kind(), FailureKind::deadline_exceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(BuiltinTasksTest, SleepStopsWhenCancelled) {
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(30ms);
    cancel = true;
  });
  auto start = std::chrono::steady_clock::now();
  TaskOutcome o = call("sleep_ms", [](auto& b) { b.Int(60000); }, TaskContext({.cancel_flag = &cancel}));
  canceller.join();
  EXPECT_EQ(o.kind(), FailureKind::cancelled);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST_F(BuiltinTasksTest, InfoReportsWhatTheServerSays) {
  FakeServer server;
  TaskOutcome o = call("info", [](auto&) {}, TaskContext({.server = &server}));
  ASSERT_TRUE(o.ok()) << o.message();
  auto info = decode_value<Value>(as_const_bytes(out_.GetBuffer()));
  ASSERT_TRUE(info);
  EXPECT_EQ(*info->find("version")->as<std::string>(), "9.8.7");
  EXPECT_EQ(*info->find("cores")->as<int>(), 2);
  EXPECT_EQ(*info->find("workers")->as<int>(), 3);
  EXPECT_EQ(*info->find("uptime_ms")->as<std::int64_t>(), 12345);
  EXPECT_EQ(*info->find("tasks_run")->as<std::int64_t>(), 99);
  auto modules = info->find("modules")->as<std::vector<ModuleInfo>>();
  ASSERT_TRUE(modules) << modules.error().message();
  EXPECT_EQ(*modules, server.modules());
}

TEST_F(BuiltinTasksTest, InfoOutsideAServerIsAnError) {
  TaskOutcome o = call("info", [](auto&) {});
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "info: this task is not running in a farm server");
}

}  // namespace
}  // namespace rfarm::farm

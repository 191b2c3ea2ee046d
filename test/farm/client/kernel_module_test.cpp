// kernel.load_module against real farm-server processes over unix: (Unix peer credentials authenticate us), on
// both backends: a server with --accept-modules --allow-uid loads it (and says already_loaded the second time),
// its tasks then run through the kernel; a server that joins later gets it before any task; a server without
// --accept-modules refuses it with its reason.
#include <gtest/gtest.h>
#include <unistd.h>

#include "farm/client/kernel.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/temp_dir.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::test::FarmServerProcess;

class KernelModuleTest : public rfarm::test::BackendTest {
 protected:
  void SetUp() override {
    module_ = rfarm::test::env_text("RFARM_HARDENED_MODULE");
    if (module_.empty()) GTEST_SKIP() << "RFARM_HARDENED_MODULE is not set (run through meson test)";
  }
  FarmServerProcess server(const std::string& path, bool accept) {
    std::vector<std::string> extra{"--allow-uid", std::to_string(::geteuid())};
    if (accept) extra.push_back("--accept-modules");
    auto s = FarmServerProcess::start(GetParam(), "unix:" + path, extra);
    if (!s) throw std::runtime_error("farm-server did not start");
    return std::move(*s);
  }
  Kernel start(std::vector<std::string> servers) {
    KernelOptions o;
    o.servers = std::move(servers);
    o.backend = GetParam();
    o.log_level = LogLevel::off;
    o.backoff = {.initial = 5ms, .max = 50ms};
    o.call_timeout = 10s;
    auto k = Kernel::start(std::move(o));
    if (!k) throw std::runtime_error("Kernel::start: " + k.error().message());
    return std::move(*k);
  }
  std::string module_;
  rfarm::test::TempDir dir_;
};

TEST_P(KernelModuleTest, EveryServerLoadsItAndALaterOneGetsItBeforeAnyTask) {
  auto a = server(dir_.file("a.sock"), true);
  auto b = server(dir_.file("b.sock"), true);
  const std::string late_path = dir_.file("late.sock");
  Kernel kernel = start({a.spec(), b.spec(), "unix:" + late_path});  // the third is not there yet
  ASSERT_TRUE(kernel.wait_ready(2, 10s));

  auto outcomes = kernel.load_module(module_);
  ASSERT_TRUE(outcomes) << outcomes.error().message;
  ASSERT_EQ(outcomes->size(), 2u) << "one outcome per ready server";
  for (const ModuleOutcome& o : *outcomes) {
    EXPECT_TRUE(o.accepted) << o.server << ": " << o.message;
    EXPECT_FALSE(o.already_loaded);
    EXPECT_FALSE(o.server.empty());
    EXPECT_NE(std::find(o.tasks.begin(), o.tasks.end(), "hardened.negate"), o.tasks.end());
  }
  // Its tasks run on both (broadcast reaches each server once).
  for (const TaskResult& r : kernel.broadcast("hardened.negate", 7)) EXPECT_EQ(r.as<std::int64_t>().value(), -7);

  // The same bytes again: a no-op on each server.
  auto again = kernel.load_module(module_);
  ASSERT_TRUE(again) << again.error().message;
  ASSERT_EQ(again->size(), 2u);
  for (const ModuleOutcome& o : *again) EXPECT_TRUE(o.accepted && o.already_loaded) << o.server << ": " << o.message;

  // A server that joins later gets the module before any task: stop the others so that tasks must go there.
  auto late = server(late_path, true);
  ASSERT_TRUE(kernel.wait_ready(3, 10s));
  EXPECT_EQ(a.terminate(), 0);
  EXPECT_EQ(b.terminate(), 0);
  for (int i = 0; i < 20; ++i) {
    auto r = kernel.future<std::int64_t>("hardened.negate", i).wait();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(*r, -i);
  }
  EXPECT_EQ(late.terminate(), 0);
}

TEST_P(KernelModuleTest, ServerWithoutAcceptModulesRefusesWithItsReason) {
  auto s = server(dir_.file("plain.sock"), false);
  Kernel kernel = start({s.spec()});
  ASSERT_TRUE(kernel.wait_ready(1, 10s));
  auto outcomes = kernel.load_module(module_);
  ASSERT_TRUE(outcomes) << outcomes.error().message;
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_FALSE(outcomes->front().accepted);
  EXPECT_NE(outcomes->front().message.find("--accept-modules"), std::string::npos) << outcomes->front().message;
  auto r = kernel.future<std::int64_t>("hardened.negate", 1).wait();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, FailureKind::unknown_task);

  auto missing = kernel.load_module(dir_.file("no-such-module.so"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot read"), std::string::npos) << missing.error().message;
  EXPECT_EQ(s.terminate(), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelModuleTest);

}  // namespace
}  // namespace rfarm::farm

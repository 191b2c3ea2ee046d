// Backpressure in the Kernel (KernelOptions::max_unsent), on both backends: a producer of 1,000,000 small tasks
// against a real farm-server it outruns keeps the kernel's unsent tasks at the bound (the stats' gauge and its
// high-water mark), and every result arrives; try_submit fails instead of waiting; close() releases a producer
// blocked in submit.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "farm/client/channel.hpp"
#include "farm/client/kernel.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/support/backend_fixture.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;
using rfarm::test::FarmServerProcess;

class KernelBackpressureTest : public rfarm::test::BackendTest {
 protected:
  Kernel start(std::vector<std::string> servers, std::size_t max_unsent, std::size_t window = 512) {
    KernelOptions o;
    o.servers = std::move(servers);
    o.backend = GetParam();
    o.log_level = LogLevel::off;
    o.backoff = {.initial = 5ms, .max = 100ms};
    o.max_unsent = max_unsent;
    o.window = window;
    auto k = Kernel::start(std::move(o));
    if (!k) throw std::runtime_error("Kernel::start: " + k.error().message());
    return std::move(*k);
  }
};

TEST_P(KernelBackpressureTest, MillionTaskProducerStaysWithinTheBound) {
  constexpr std::size_t kBound = 2000;
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr std::int64_t kTasks = 100'000;  // the bound is reached either way; a sanitizer makes a task ~10x dearer
#else
  constexpr std::int64_t kTasks = 1'000'000;
#endif
  constexpr std::int64_t kBatch = 1000;
  auto server = FarmServerProcess::start(GetParam(), "tcp:127.0.0.1:0", {});
  ASSERT_TRUE(server);
  Kernel kernel = start({server->spec()}, kBound, 128);
  ASSERT_TRUE(kernel.wait_ready(1, 10s));
  Channel channel(kernel);

  // Half one at a time (submit blocks), half in batches (one hand-off per chunk of room).
  std::atomic<bool> produced{false};
  std::thread producer([&] {
    for (std::int64_t i = 0; i < kTasks / 2; ++i) channel.submit("add", i, 1);
    for (std::int64_t i = kTasks / 2; i < kTasks; i += kBatch) {
      std::vector<std::tuple<std::int64_t, std::int64_t>> batch;
      for (std::int64_t j = i; j < i + kBatch; ++j) batch.emplace_back(j, 1);
      channel.submit_batch("add", batch);
    }
    produced = true;
  });
  std::atomic<bool> sampling{true};
  std::size_t worst_sample = 0;
  std::thread sampler([&] {
    while (sampling) {
      worst_sample = std::max(worst_sample, kernel.stats().unsent);
      std::this_thread::sleep_for(5ms);
    }
  });

  std::int64_t sum = 0, received = 0;
  Clock::time_point until = Clock::now() + 50s;
  bool failed = false;
  while (received < kTasks && Clock::now() < until && !failed) {
    if (channel.outstanding() == 0) {  // the producer has not caught up with us: receiving would fail at once
      std::this_thread::sleep_for(1ms);
      continue;
    }
    auto r = channel.try_receive_outcome(1s);
    if (!r) continue;
    if (!*r) {
      ADD_FAILURE() << (*r).error().message;
      failed = true;
      break;
    }
    sum += (*r)->as<std::int64_t>().value();
    ++received;
  }
  if (failed || received < kTasks) kernel.close();  // releases the producer, so that it can be joined
  sampling = false;
  sampler.join();
  producer.join();
  EXPECT_TRUE(produced);
  EXPECT_EQ(received, kTasks);
  EXPECT_EQ(sum, kTasks * (kTasks - 1) / 2 + kTasks);  // sum of i + 1

  KernelStats stats = kernel.stats();
  EXPECT_LE(stats.max_unsent, kBound);
  EXPECT_LE(worst_sample, kBound);
  // The producer did outrun the server (else the bound was never tested).
  EXPECT_GE(stats.max_unsent, kBound / 2) << "the producer never filled the kernel";
  EXPECT_EQ(stats.unsent, 0u);
  EXPECT_EQ(stats.completed, static_cast<std::uint64_t>(kTasks));
  std::printf("backpressure: %lld tasks, unsent at most %zu (bound %zu, worst sample %zu), %llu sends\n",
              static_cast<long long>(kTasks), stats.max_unsent, kBound, worst_sample,
              static_cast<unsigned long long>(stats.sends));
  EXPECT_EQ(server->terminate(), 0);
}

TEST_P(KernelBackpressureTest, TrySubmitFailsWhenFullAndCloseReleasesABlockedProducer) {
  // No server: nothing leaves the kernel, so it fills at once.
  Kernel kernel = start({"tcp:127.0.0.1:1"}, 10);
  Channel channel(kernel);
  for (int i = 0; i < 10; ++i) ASSERT_FALSE(channel.try_submit("add", i, 1)) << i;
  EXPECT_EQ(channel.try_submit("add", 10, 1), std::errc::resource_unavailable_try_again);
  EXPECT_EQ(channel.outstanding(), 10u);
  EXPECT_LE(kernel.stats().unsent, 10u);

  auto blocked = std::async(std::launch::async, [&] { channel.submit("add", 11, 1); });
  EXPECT_EQ(blocked.wait_for(200ms), std::future_status::timeout) << "submit did not wait for room";
  kernel.close();
  ASSERT_EQ(blocked.wait_for(5s), std::future_status::ready) << "close() left the producer blocked";
  // All eleven accepted tasks end, cancelled.
  for (int i = 0; i < 11; ++i) {
    auto r = channel.try_receive_outcome(5s);
    ASSERT_TRUE(r) << i;
    ASSERT_FALSE(*r);
    EXPECT_EQ(r->error().kind, FailureKind::cancelled);
  }
}

RFARM_INSTANTIATE_BACKEND_TESTS(KernelBackpressureTest);

}  // namespace
}  // namespace rfarm::farm

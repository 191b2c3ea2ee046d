// The lock-free queues under the runtime: CrossCoreQueue (SPSC, batched publish) and MpmcQueue.
#include "reactor/runtime/cross_core_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "reactor/runtime/message.hpp"
#include "reactor/runtime/mpmc_queue.hpp"

namespace rfarm::detail {
namespace {

TEST(CrossCoreQueueTest, PushedItemsAreInvisibleUntilPublished) {
  CrossCoreQueue<int> q(8);
  ASSERT_TRUE(q.try_push(1));
  ASSERT_TRUE(q.try_push(2));
  EXPECT_FALSE(q.has_published());
  EXPECT_EQ(q.consume(10, [](int&) {}), 0u);
  EXPECT_EQ(q.unpublished(), 2u);
  EXPECT_EQ(q.publish(), 2u);
  EXPECT_TRUE(q.has_published());
  std::vector<int> got;
  EXPECT_EQ(q.consume(10, [&](int& v) { got.push_back(v); }), 2u);
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_FALSE(q.has_published());
}

TEST(CrossCoreQueueTest, RefusesWhenFullAndAcceptsOnceConsumed) {
  CrossCoreQueue<int> q(4);
  ASSERT_EQ(q.capacity(), 4u);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.try_push(int{i}));
  EXPECT_FALSE(q.try_push(99));
  q.publish();
  EXPECT_TRUE(q.full_for_producer());
  EXPECT_EQ(q.consume(1, [](int& v) { EXPECT_EQ(v, 0); }), 1u);
  EXPECT_FALSE(q.full_for_producer());
  EXPECT_TRUE(q.try_push(4));
}

TEST(CrossCoreQueueTest, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(CrossCoreQueue<int>(100).capacity(), 128u);
  EXPECT_EQ(CrossCoreQueue<int>(0).capacity(), 2u);
}

TEST(CrossCoreQueueTest, ConsumeRunsAtMostTheBatchLimit) {
  CrossCoreQueue<int> q(16);
  for (int i = 0; i < 10; ++i) q.try_push(int{i});
  q.publish();
  EXPECT_EQ(q.consume(4, [](int&) {}), 4u);
  EXPECT_EQ(q.consume(100, [](int&) {}), 6u);
}

TEST(CrossCoreQueueTest, DestructorDestroysWhatWasNeverConsumed) {
  auto alive = std::make_shared<int>(0);
  {
    CrossCoreQueue<std::shared_ptr<int>> q(8);
    q.try_push(std::shared_ptr<int>(alive));
    q.try_push(std::shared_ptr<int>(alive));
    q.publish();
    q.try_push(std::shared_ptr<int>(alive));  // never published
    q.consume(1, [](std::shared_ptr<int>&) {});
    EXPECT_EQ(alive.use_count(), 3);
  }
  EXPECT_EQ(alive.use_count(), 1);
}

TEST(CrossCoreQueueTest, MessagesUpToFortyEightBytesStayInTheSlot) {
  struct Small {
    char bytes[40];
    void operator()() const {}
  };
  struct Large {
    char bytes[200];
    void operator()() const {}
  };
  EXPECT_TRUE(CrossCoreMessage::fits_inline<Small>());
  EXPECT_FALSE(CrossCoreMessage::fits_inline<Large>());
  int ran = 0;
  CrossCoreMessage boxed([big = Large{}, &ran] { ++ran; });
  boxed();
  EXPECT_EQ(ran, 1);
}

// Two threads, a small ring, a million items: order kept and nothing lost or duplicated.
TEST(CrossCoreQueueTest, ProducerAndConsumerThreadsKeepOrder) {
  constexpr std::uint64_t kItems = 1'000'000;
  CrossCoreQueue<std::uint64_t> q(64);
  std::thread producer([&] {
    std::uint64_t next = 0;
    while (next < kItems) {
      int pushed = 0;
      while (next < kItems && pushed < 16 && q.try_push(std::uint64_t{next})) {
        ++next;
        ++pushed;
      }
      q.publish();
      if (pushed == 0) std::this_thread::yield();
    }
  });
  std::uint64_t expected = 0;
  bool in_order = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (expected < kItems && std::chrono::steady_clock::now() < deadline) {
    if (q.consume(32, [&](std::uint64_t& v) { in_order &= (v == expected++); }) == 0) std::this_thread::yield();
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_EQ(expected, kItems);
}

TEST(MpmcQueueTest, FifoOnOneThreadAndFullWhenFull) {
  MpmcQueue<int> q(4);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(q.try_push(i));
  EXPECT_FALSE(q.try_push(4));
  int v = -1;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.try_pop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(q.try_pop(v));
}

TEST(MpmcQueueTest, ManyProducersAndConsumersLoseNothing) {
  constexpr int kProducers = 3, kConsumers = 3, kPerProducer = 100'000;
  MpmcQueue<std::uint64_t> q(256);
  std::atomic<std::uint64_t> sum{0}, count{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p)
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i)
        while (!q.try_push(static_cast<std::uint64_t>(p * kPerProducer + i + 1))) std::this_thread::yield();
    });
  for (int c = 0; c < kConsumers; ++c)
    threads.emplace_back([&] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      std::uint64_t v;
      while (count.load() < kProducers * kPerProducer && std::chrono::steady_clock::now() < deadline) {
        if (q.try_pop(v)) {
          sum.fetch_add(v);
          count.fetch_add(1);
        } else {
          std::this_thread::yield();
        }
      }
    });
  for (auto& t : threads) t.join();
  const std::uint64_t n = std::uint64_t{kProducers} * kPerProducer;
  EXPECT_EQ(count.load(), n);
  EXPECT_EQ(sum.load(), n * (n + 1) / 2);
}

}  // namespace
}  // namespace rfarm::detail

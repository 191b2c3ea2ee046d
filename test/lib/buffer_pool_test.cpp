// BufferPool and PooledBuffer: leasing, recycling, the cached limit, and the fill/consume cursor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "lib/buffer_pool.hpp"

namespace rfarm {
namespace {

TEST(BufferPoolTest, AcquireLeasesAnEmptyBufferOfTheConfiguredCapacity) {
  BufferPool pool(4096);
  PooledBuffer b = pool.acquire();
  ASSERT_TRUE(b);
  EXPECT_EQ(b.capacity(), 4096u);
  EXPECT_EQ(b.size(), 0u);
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(pool.stats().leased, 1u);
  EXPECT_EQ(pool.stats().allocated, 1u);
}

TEST(BufferPoolTest, BuffersAreCacheLineAligned) {
  BufferPool pool(100);
  PooledBuffer b = pool.acquire();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.writable().data()) % 64, 0u);
}

TEST(BufferPoolTest, ReturnedBufferIsReusedWithoutAllocating) {
  BufferPool pool(1024);
  std::byte* first_memory;
  {
    PooledBuffer b = pool.acquire();
    first_memory = b.writable().data();
  }
  EXPECT_EQ(pool.stats().leased, 0u);
  EXPECT_EQ(pool.stats().cached, 1u);
  PooledBuffer again = pool.acquire();
  EXPECT_EQ(again.writable().data(), first_memory);
  EXPECT_EQ(pool.stats().allocated, 1u);
  EXPECT_EQ(pool.stats().cached, 0u);
}

TEST(BufferPoolTest, EveryCachedBufferIsReusedBeforeAnyNewAllocation) {
  BufferPool pool(512);
  std::vector<std::byte*> first;
  {
    std::vector<PooledBuffer> leased;
    for (int i = 0; i < 4; ++i) {
      leased.push_back(pool.acquire());
      std::memset(leased.back().writable().data(), 0xab, 512);  // a freed buffer's bytes are the pool's again
      first.push_back(leased.back().writable().data());
    }
  }
  EXPECT_EQ(pool.stats().cached, 4u);
  std::vector<PooledBuffer> again;
  for (int i = 0; i < 4; ++i) again.push_back(pool.acquire());
  EXPECT_EQ(pool.stats().allocated, 4u) << "a cached buffer was lost from the free list";
  EXPECT_EQ(pool.stats().cached, 0u);
  std::vector<std::byte*> second;
  for (const PooledBuffer& b : again) second.push_back(b.writable().data());
  std::sort(first.begin(), first.end());
  std::sort(second.begin(), second.end());
  EXPECT_EQ(first, second);
  again.push_back(pool.acquire());
  EXPECT_EQ(pool.stats().allocated, 5u);
}

TEST(BufferPoolTest, ABufferSmallerThanAPointerKeepsItsCapacity) {
  BufferPool pool(1);
  { PooledBuffer b = pool.acquire(); }  // cached: its byte and the ones after hold the free list's link
  PooledBuffer b = pool.acquire();
  EXPECT_EQ(b.capacity(), 1u);
  EXPECT_EQ(pool.stats().allocated, 1u);
}

TEST(BufferPoolTest, ReusedBufferStartsEmpty) {
  BufferPool pool(64);
  {
    PooledBuffer b = pool.acquire();
    b.commit(10);
  }
  PooledBuffer again = pool.acquire();
  EXPECT_EQ(again.size(), 0u);
  EXPECT_EQ(again.writable().size(), 64u);
}

TEST(BufferPoolTest, CachesAtMostMaxCachedBuffers) {
  BufferPool pool(256, 2);
  {
    std::vector<PooledBuffer> leased;
    for (int i = 0; i < 5; ++i) leased.push_back(pool.acquire());
    EXPECT_EQ(pool.stats().leased, 5u);
    EXPECT_EQ(pool.stats().allocated, 5u);
  }
  EXPECT_EQ(pool.stats().leased, 0u);
  EXPECT_EQ(pool.stats().cached, 2u) << "the other three go back to the allocator";
}

TEST(BufferPoolTest, ZeroMaxCachedFreesEveryReturnedBuffer) {
  BufferPool pool(256, 0);
  { PooledBuffer b = pool.acquire(); }
  EXPECT_EQ(pool.stats().cached, 0u);
  PooledBuffer b = pool.acquire();
  EXPECT_EQ(pool.stats().allocated, 2u);
}

TEST(BufferPoolTest, ResetReturnsTheBufferEarly) {
  BufferPool pool(128);
  PooledBuffer b = pool.acquire();
  b.reset();
  EXPECT_FALSE(b);
  EXPECT_EQ(b.capacity(), 0u);
  EXPECT_EQ(pool.stats().leased, 0u);
  b.reset();  // idempotent
  EXPECT_EQ(pool.stats().leased, 0u);
}

TEST(BufferPoolTest, MoveTransfersTheLease) {
  BufferPool pool(128);
  PooledBuffer a = pool.acquire();
  a.commit(5);
  PooledBuffer b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): moved-from is specified as empty
  ASSERT_TRUE(b);
  EXPECT_EQ(b.size(), 5u);
  EXPECT_EQ(pool.stats().leased, 1u);
}

TEST(BufferPoolTest, MoveAssignmentReturnsTheOverwrittenBuffer) {
  BufferPool pool(128);
  PooledBuffer a = pool.acquire();
  PooledBuffer b = pool.acquire();
  EXPECT_EQ(pool.stats().leased, 2u);
  a = std::move(b);
  EXPECT_EQ(pool.stats().leased, 1u);
  EXPECT_EQ(pool.stats().cached, 1u);
}

TEST(BufferPoolTest, CommitAndConsumeMoveTheFilledWindow) {
  BufferPool pool(16);
  PooledBuffer b = pool.acquire();
  std::memcpy(b.writable().data(), "hello world", 11);
  b.commit(11);
  EXPECT_EQ(b.size(), 11u);
  EXPECT_EQ(b.writable().size(), 5u);
  b.consume(6);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(b.data()), b.size()), "world");
  EXPECT_EQ(as_chars(b.bytes()), "world");
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.writable().size(), 16u);
}

// A source that records what comes back: PooledBuffer works with any BufferSource (the io_uring ring is one).
struct RecordingSource final : BufferSource {
  void recycle(std::byte* base, std::uint32_t id) noexcept override { returned.emplace_back(base, id); }
  std::vector<std::pair<std::byte*, std::uint32_t>> returned;
};

TEST(BufferPoolTest, PooledBufferReturnsItsIdToItsSource) {
  RecordingSource source;
  std::byte storage[32];
  {
    PooledBuffer b(&source, storage, sizeof storage, 17);
    EXPECT_EQ(b.id(), 17u);
  }
  ASSERT_EQ(source.returned.size(), 1u);
  EXPECT_EQ(source.returned[0].first, storage);
  EXPECT_EQ(source.returned[0].second, 17u);
}

}  // namespace
}  // namespace rfarm

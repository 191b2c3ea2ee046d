// ReadinessWatch: level-triggered readiness of a descriptor the reactor does not own (here, a pipe).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

class ReadinessWatchTest : public BackendTest {
 protected:
  void SetUp() override {
    BackendTest::SetUp();
    ASSERT_EQ(::pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0);
  }
  void TearDown() override {
    BackendTest::TearDown();  // the reactor (and any watch's registration) goes first
    for (int& fd : fds_)
      if (fd >= 0) ::close(std::exchange(fd, -1));
  }
  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  void close_write_end() { ::close(std::exchange(fds_[1], -1)); }

 private:
  int fds_[2] = {-1, -1};
};

TEST_P(ReadinessWatchTest, ReportsThePipeReadableOnceDataArrives) {
  ReadinessWatch watch(reactor());
  std::uint32_t seen = 0;
  ASSERT_FALSE(watch.start(read_end(), POLLIN, [&](std::uint32_t events) { seen |= events; }));
  EXPECT_TRUE(watch.active());
  run_for(10ms);
  EXPECT_EQ(seen, 0u) << "an empty pipe is not readable";
  ASSERT_EQ(::write(write_end(), "x", 1), 1);
  ASSERT_TRUE(run_until([&] { return seen != 0; }));
  EXPECT_TRUE(seen & POLLIN);
}

TEST_P(ReadinessWatchTest, IsLevelTriggeredUntilTheDataIsRead) {
  ReadinessWatch watch(reactor());
  int calls = 0;
  ASSERT_FALSE(watch.start(read_end(), POLLIN, [&](std::uint32_t) { ++calls; }));
  ASSERT_EQ(::write(write_end(), "x", 1), 1);
  ASSERT_TRUE(run_until([&] { return calls >= 3; })) << "still readable: notified on every turn";
  char c;
  ASSERT_EQ(::read(read_end(), &c, 1), 1);
  run_for(5ms);  // at most the turn in flight may still report it
  int after_drain = calls;
  run_for(20ms);
  EXPECT_EQ(calls, after_drain);
}

TEST_P(ReadinessWatchTest, StopEndsNotifications) {
  ReadinessWatch watch(reactor());
  int calls = 0;
  ASSERT_FALSE(watch.start(read_end(), POLLIN, [&](std::uint32_t) {
    ++calls;
    watch.stop();  // stopping from inside the callback is allowed
  }));
  ASSERT_EQ(::write(write_end(), "x", 1), 1);
  ASSERT_TRUE(run_until([&] { return calls == 1; }));
  EXPECT_FALSE(watch.active());
  run_for(20ms);
  EXPECT_EQ(calls, 1);
}

TEST_P(ReadinessWatchTest, ModifySwitchesTheEventsWatched) {
  ReadinessWatch watch(reactor());
  std::uint32_t seen = 0;
  // The write end of an empty pipe is writable; not interested yet.
  ASSERT_FALSE(watch.start(write_end(), 0, [&](std::uint32_t events) { seen |= events; }));
  run_for(10ms);
  EXPECT_EQ(seen & POLLOUT, 0u);
  ASSERT_FALSE(watch.modify(POLLOUT));
  ASSERT_TRUE(run_until([&] { return (seen & POLLOUT) != 0; }));
}

TEST_P(ReadinessWatchTest, ReportsHangUpWhenTheWriterCloses) {
  ReadinessWatch watch(reactor());
  std::uint32_t seen = 0;
  ASSERT_FALSE(watch.start(read_end(), POLLIN, [&](std::uint32_t events) {
    seen |= events;
    watch.stop();
  }));
  close_write_end();
  ASSERT_TRUE(run_until([&] { return seen != 0; }));
  EXPECT_TRUE(seen & POLLHUP) << "events: " << seen;
}

TEST_P(ReadinessWatchTest, DestroyingTheWatchStopsIt) {
  int calls = 0;
  {
    ReadinessWatch watch(reactor());
    ASSERT_FALSE(watch.start(read_end(), POLLIN, [&](std::uint32_t) { ++calls; }));
  }
  ASSERT_EQ(::write(write_end(), "x", 1), 1);
  run_for(20ms);
  EXPECT_EQ(calls, 0);
}

TEST_P(ReadinessWatchTest, StartOnABadDescriptorFails) {
  ReadinessWatch watch(reactor());
  EXPECT_TRUE(watch.start(-1, POLLIN, [](std::uint32_t) {}));
  EXPECT_FALSE(watch.active());
}

RFARM_INSTANTIATE_BACKEND_TESTS(ReadinessWatchTest);

}  // namespace
}  // namespace rfarm::test

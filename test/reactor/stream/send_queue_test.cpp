// SendQueue: frames queued in one loop turn leave in one gathered sendmsg; order is kept across sends;
// failures are reported once; destroying the queue with a send in flight is safe.
#include "reactor/stream/send_queue.hpp"

#include <string>

#include "test/support/backend_fixture.hpp"

namespace rfarm::test {
namespace {

using SendQueueTest = BackendTest;

// Reads from sock until want bytes arrived or the stream ends.
Task<std::string> read_bytes(StreamSocket& sock, std::size_t want) {
  std::string got;
  std::string chunk(64 * 1024, '\0');
  while (got.size() < want) {
    auto n = co_await sock.recv(as_writable_bytes(chunk));
    if (!n || *n == 0) break;
    got.append(chunk.data(), *n);
  }
  co_return got;
}

std::string frame(int i) { return "frame-" + std::to_string(i) + ";"; }

TEST_P(SendQueueTest, FramesQueuedInOneTurnLeaveInOneSend) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  SendQueue out(client);
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    out.push(frame(i));
    expected += frame(i);
  }
  EXPECT_EQ(out.queued_bytes(), expected.size());
  EXPECT_EQ(out.sends_started(), 0u) << "nothing may leave before the turn ends";
  std::string got = run(read_bytes(server, expected.size()));
  EXPECT_EQ(got, expected);
  EXPECT_EQ(out.sends_started(), 1u) << "50 frames of one turn must leave in one sendmsg";
  EXPECT_TRUE(run_until([&] { return out.idle(); }));
  EXPECT_EQ(out.queued_bytes(), 0u);
}

// Frames queued by an end-of-turn hook (the farm kernel's dispatch, a server connection's flush) leave in that
// same turn: one poll per send, not two.
TEST_P(SendQueueTest, FramesQueuedByATurnHookLeaveInThatTurn) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  SendQueue out(client);
  struct Dispatch : TurnHook {
    explicit Dispatch(SendQueue& q) noexcept : TurnHook(&Dispatch::fire), queue(q) {}
    static void fire(TurnHook& hook) noexcept { static_cast<Dispatch&>(hook).queue.push(frame(1)); }
    SendQueue& queue;
  } dispatch(out);
  reactor().at_end_of_turn(dispatch);
  reactor().run_once(Duration(0));
  EXPECT_EQ(out.sends_started(), 1u) << "the frame waited for another turn";
  EXPECT_EQ(run(read_bytes(server, frame(1).size())), frame(1));
  EXPECT_TRUE(run_until([&] { return out.idle(); }));
}

TEST_P(SendQueueTest, FramesQueuedDuringASendFollowInOrder) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  SendQueue out(client);
  // More than the socket buffers hold, so the first send stays in flight while more frames are queued.
  std::string big(8 * 1024 * 1024, 'x');
  out.push(big);
  std::string expected = big;
  ASSERT_TRUE(run_until([&] { return out.sends_started() == 1; }));
  for (int i = 0; i < 100; ++i) {
    out.push(frame(i));
    expected += frame(i);
  }
  std::string got = run(read_bytes(server, expected.size()));
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "bytes arrived out of order";
  EXPECT_GE(out.sends_started(), 2u);
  EXPECT_LE(out.sends_started(), 3u) << "the 100 frames queued meanwhile should leave together";
}

TEST_P(SendQueueTest, PooledBuffersAreForwardedAsTheyAre) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  SendQueue out(client);
  PooledBuffer b = reactor().receive_pool().acquire();
  std::string text = "leased bytes";
  std::memcpy(b.writable().data(), text.data(), text.size());
  b.commit(text.size());
  out.push(std::move(b));
  EXPECT_EQ(run(read_bytes(server, text.size())), text);
  EXPECT_TRUE(run_until([&] { return out.idle(); }));
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u) << "the buffer returns to the pool once sent";
}

TEST_P(SendQueueTest, SendFailureIsReportedOnceAndDropsTheQueue) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  server.close();
  SendQueue out(client);
  int errors = 0;
  std::error_code first;
  out.on_error([&](std::error_code ec) {
    if (errors++ == 0) first = ec;
  });
  // The first send may still succeed (the RST has not come back yet); keep queueing until one fails.
  ASSERT_TRUE(run_until([&] {
    if (errors == 0) out.push(std::string(64 * 1024, 'y'));
    return errors > 0;
  }));
  run_for(std::chrono::milliseconds(20));
  EXPECT_EQ(errors, 1);
  EXPECT_TRUE(first == std::errc::broken_pipe || first == std::errc::connection_reset) << first.message();
  EXPECT_TRUE(out.idle());
  out.push(std::string("after failure"));
  EXPECT_TRUE(out.idle()) << "a failed queue takes no more frames";
}

TEST_P(SendQueueTest, DestroyingTheQueueWithASendInFlightIsSafe) {
  auto pair = tcp_pair();
  ASSERT_TRUE(pair) << pair.error().message();
  auto& [client, server] = *pair;
  {
    SendQueue out(client);
    out.push(std::string(16 * 1024 * 1024, 'z'));  // cannot all fit: the send stays pending
    ASSERT_TRUE(run_until([&] { return out.sends_started() == 1; }));
    run_for(std::chrono::milliseconds(5));
  }
  // The abandoned send never completes into the destroyed queue; the loop keeps working.
  run_for(std::chrono::milliseconds(20));
  client.close();
  EXPECT_TRUE(server.is_open());
}

RFARM_INSTANTIATE_BACKEND_TESTS(SendQueueTest);

}  // namespace
}  // namespace rfarm::test

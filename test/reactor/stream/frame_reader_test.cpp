// FrameReader: frames split at every byte boundary (a memory stream giving one byte per receive), the size
// limit (max accepted, max + 1 refused before any allocation of that size), the zero-length policy, clean and
// truncated ends, the other prefixes; on both backends over a socket pair: 100,000 one-byte frames, a
// reader waiting with no buffer held, the callback form, no allocation per call in a steady loop, and
// against a Python peer writing frames in random pieces.
#include "reactor/stream/frame_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/reactor/stream/allocation_counter.hpp"
#include "test/support/backend_fixture.hpp"
#include "test/support/byte_pattern.hpp"
#include "test/support/child_process.hpp"
#include "test/support/memory_stream.hpp"

namespace rfarm::test {
namespace {

std::string frame(std::string_view payload, FramePrefix prefix = FramePrefix::u32_le) {
  std::byte header[4];
  std::size_t n = detail::encode_frame_prefix(prefix, payload.size(), header);
  return std::string(as_chars(ConstBytes(header, n))) + std::string(payload);
}

std::string frame_with_length(std::uint32_t declared) {
  std::byte header[4];
  detail::encode_frame_prefix(FramePrefix::u32_le, declared, header);
  return std::string(as_chars(ConstBytes(header, 4)));
}

// Every frame (as strings) until the end or an error; the error, if any, in *error.
template <class S>
Task<std::vector<std::string>> read_all(FrameReader<S>& reader, std::error_code* error) {
  std::vector<std::string> frames;
  for (;;) {
    auto next = co_await reader.next();
    if (!next) {
      *error = next.error();
      co_return frames;
    }
    if (!*next) co_return frames;
    frames.emplace_back(as_chars(**next));
  }
}

template <bool Pooled>
struct MemoryFrames {
  explicit MemoryFrames(std::string input, Splits splits = {}, FrameReaderOptions options = {})
      : pool(64), stream(std::move(input), splits, &pool), reader(stream, pool, options) {}
  BufferPool pool;
  MemoryStream<Pooled> stream;
  FrameReader<MemoryStream<Pooled>> reader;
};

template <class P>
class FrameReaderMemoryTest : public ::testing::Test {};
using Pooling = ::testing::Types<std::false_type, std::true_type>;
TYPED_TEST_SUITE(FrameReaderMemoryTest, Pooling);

// Frames of many sizes (zero, below, at and above the 64-byte pool buffer), each split at every byte: one
// byte per receive, so every boundary (inside the header, between header and payload, inside the payload)
// is a receive boundary.
TYPED_TEST(FrameReaderMemoryTest, FramesSplitAtEveryByteAreReassembled) {
  std::vector<std::string> sent;
  std::string input;
  for (std::size_t size : {0, 1, 3, 4, 5, 59, 60, 63, 64, 65, 200, 1000}) {
    sent.push_back(pattern(size, static_cast<std::uint32_t>(size)));
    input += frame(sent.back());
  }
  MemoryFrames<TypeParam::value> f(input, Splits::one_byte());
  std::error_code error;
  auto got = run_now(read_all(f.reader, &error));
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(got, sent);
  EXPECT_EQ(f.stream.receives, input.size() + 1) << "one receive per byte, and one that sees the end";
}

TYPED_TEST(FrameReaderMemoryTest, RandomSplitsAndEveryPrefix) {
  for (FramePrefix prefix : {FramePrefix::u32_le, FramePrefix::u32_be, FramePrefix::u16_le, FramePrefix::u16_be}) {
    std::vector<std::string> sent;
    std::string input;
    for (std::uint32_t i = 0; i < 300; ++i) {
      sent.push_back(pattern((i * 37) % 700, i));
      input += frame(sent.back(), prefix);
    }
    MemoryFrames<TypeParam::value> f(input, Splits::random(97, 7), {.prefix = prefix});
    std::error_code error;
    EXPECT_EQ(run_now(read_all(f.reader, &error)), sent);
    EXPECT_FALSE(error);
  }
}

// Many frames in one receive are handed out without a receive each, as views into the receive buffer.
TYPED_TEST(FrameReaderMemoryTest, FramesInOneReceiveNeedNoFurtherReceive) {
  std::string input;
  for (int i = 0; i < 10; ++i) input += frame("abc");  // 70 bytes: more than one 64-byte pool buffer
  MemoryFrames<TypeParam::value> f(input);
  std::size_t frames = 0;
  auto n = run_now([](FrameReader<MemoryStream<TypeParam::value>>& r, std::size_t& frames) -> Task<Result<std::size_t>> {
    co_return co_await r.next_batch([&](ConstBytes payload) {
      EXPECT_EQ(as_chars(payload), "abc");
      ++frames;
    });
  }(f.reader, frames));
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 9u) << "the nine frames in the first 64 bytes";
  EXPECT_EQ(f.stream.receives, 1u);
}

TEST(FrameReaderTest, MaxSizeIsAcceptedAndOneMoreIsRefusedBeforeAllocating) {
  constexpr std::size_t kMax = 1 << 20;
  {
    MemoryFrames<true> f(frame(pattern(kMax, 1)), Splits::random(100'000, 3), {.max_frame_size = kMax});
    std::error_code error;
    auto got = run_now(read_all(f.reader, &error));
    EXPECT_FALSE(error) << error.message();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0], pattern(kMax, 1));
  }
  {
    MemoryFrames<true> f(frame_with_length(kMax + 1) + "some bytes", {}, {.max_frame_size = kMax});
    AllocationCounter counter;
    auto next = run_now([](FrameReader<MemoryStream<true>>& r) -> Task<Result<std::optional<ConstBytes>>> {
      co_return co_await r.next();
    }(f.reader));
    EXPECT_LT(counter.largest(), std::size_t{64 * 1024}) << "nothing of the declared size was allocated";
    ASSERT_FALSE(next);
    EXPECT_EQ(next.error(), Errc::frame_too_large);
    EXPECT_EQ(next.error(), std::errc::message_size);
  }
  {
    // The largest u32 length: refused by the default 64 MiB limit, also before allocating.
    MemoryFrames<false> f(frame_with_length(0xffffffffu));
    AllocationCounter counter;
    std::error_code error;
    EXPECT_TRUE(run_now(read_all(f.reader, &error)).empty());
    EXPECT_EQ(error, Errc::frame_too_large);
    EXPECT_LT(counter.largest(), std::size_t{64 * 1024});
  }
}

// A declared length is only a claim: the buffer grows with the bytes that really arrived (at most doubling per
// receive), so a header announcing 1 MiB followed by 1,000 bytes never costs a 1 MiB allocation.
TEST(FrameReaderTest, ADeclaredLengthAloneAllocatesNothingOfItsSize) {
  constexpr std::size_t kMax = 1 << 20;
  for (bool pooled : {false, true}) {
    std::string input = frame_with_length(kMax) + pattern(1000, 7);
    AllocationCounter counter;
    std::error_code error;
    std::vector<std::string> got;
    if (pooled) {
      MemoryFrames<true> f(input, Splits::random(100, 5), {.max_frame_size = kMax});
      got = run_now(read_all(f.reader, &error));
    } else {
      MemoryFrames<false> f(input, Splits::random(100, 5), {.max_frame_size = kMax});
      got = run_now(read_all(f.reader, &error));
    }
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(error, Errc::truncated_frame);
    EXPECT_LE(counter.largest(), std::size_t{4096}) << "pooled " << pooled << ": at most twice what arrived";
  }
}

// A large frame that does arrive in full is still delivered whole, however it is split, in a buffer that grew to
// the frame's size and no further.
TEST(FrameReaderTest, ALargeFrameGrowsItsBufferAsItArrives) {
  constexpr std::size_t kSize = 3 << 20;
  std::string payload = pattern(kSize, 9);
  MemoryFrames<false> f(frame(payload) + frame("after"), Splits::random(70'000, 11), {.max_frame_size = kSize});
  AllocationCounter counter;
  std::error_code error;
  auto got = run_now(read_all(f.reader, &error));
  EXPECT_FALSE(error) << error.message();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(got[0] == payload);
  EXPECT_EQ(got[1], "after");
  EXPECT_LE(counter.largest(), kSize + 4) << "never more than the frame itself";
}

TEST(FrameReaderTest, ZeroLengthFramesFollowThePolicy) {
  std::string input = frame("a") + frame("") + frame("b");
  {
    MemoryFrames<true> f(input);
    std::error_code error;
    EXPECT_EQ(run_now(read_all(f.reader, &error)), (std::vector<std::string>{"a", "", "b"}));
    EXPECT_FALSE(error);
  }
  {
    MemoryFrames<true> f(input, {}, {.allow_empty_frames = false});
    std::error_code error;
    EXPECT_EQ(run_now(read_all(f.reader, &error)), (std::vector<std::string>{"a"}));
    EXPECT_EQ(error, Errc::empty_frame);
    // Sticky: the framing is lost.
    auto again = run_now([](FrameReader<MemoryStream<true>>& r) -> Task<Result<std::optional<ConstBytes>>> {
      co_return co_await r.next();
    }(f.reader));
    EXPECT_EQ(again.error(), Errc::empty_frame);
  }
}

TEST(FrameReaderTest, EndBetweenFramesIsCleanInsideAFrameIsTruncation) {
  std::string whole = frame("hello") + frame("world");
  for (std::size_t cut = 0; cut <= whole.size(); ++cut) {
    MemoryFrames<true> f(whole.substr(0, cut), Splits::random(3, static_cast<std::uint32_t>(cut + 1)));
    std::error_code error;
    auto got = run_now(read_all(f.reader, &error));
    bool at_boundary = cut == 0 || cut == 9 || cut == whole.size();
    if (at_boundary) {
      EXPECT_FALSE(error) << "cut at " << cut;
    } else {
      EXPECT_EQ(error, Errc::truncated_frame) << "cut at " << cut;
    }
    EXPECT_EQ(got.size(), cut >= whole.size() ? 2u : cut >= 9 ? 1u : 0u) << "cut at " << cut;
  }
}

TEST(FrameReaderTest, AReceiveErrorComesAfterTheFramesBeforeIt) {
  MemoryFrames<true> f(frame("x") + "\x05");
  f.stream.end_error = std::make_error_code(std::errc::connection_reset);
  std::error_code error;
  EXPECT_EQ(run_now(read_all(f.reader, &error)), (std::vector<std::string>{"x"}));
  EXPECT_EQ(error, std::errc::connection_reset);
}

// --- over sockets, on both backends ---------------------------------------------------------------------

class FrameReaderSocketTest : public BackendTest {
 protected:
  // Sends data on sock in pieces of at most `piece` bytes, from a coroutine of its own.
  void send_in_pieces(StreamSocket& sock, std::string data, std::size_t piece) {
    reactor().spawn([](StreamSocket& s, std::string d, std::size_t piece) -> Task<void> {
      for (std::size_t at = 0; at < d.size(); at += piece) {
        auto sent = co_await s.send_all(as_bytes(std::string_view(d).substr(at, piece)));
        if (!sent) co_return;
      }
    }(sock, std::move(data), piece));
  }
};

TEST_P(FrameReaderSocketTest, HundredThousandOneByteFramesWithoutAReceiveEach) {
  constexpr std::size_t kFrames = 100'000;
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::string input;
  input.reserve(kFrames * 5);
  for (std::size_t i = 0; i < kFrames; ++i) input += frame(std::string(1, static_cast<char>('a' + i % 26)));
  send_in_pieces(pair->first, std::move(input), 64 * 1024);
  FrameReader<StreamSocket> reader(pair->second);
  struct Counts {
    std::size_t frames = 0;
    std::size_t batches = 0;
    bool in_order = true;
  } counts;
  std::error_code error = run([](FrameReader<StreamSocket>& r, Counts& c) -> Task<std::error_code> {
    while (c.frames < kFrames) {
      auto n = co_await r.next_batch([&](ConstBytes f) {
        if (f.size() != 1 || as_chars(f)[0] != static_cast<char>('a' + c.frames % 26)) c.in_order = false;
        ++c.frames;
      });
      if (!n) co_return n.error();
      if (*n == 0) break;
      ++c.batches;
    }
    co_return std::error_code{};
  }(reader, counts), 20s);
  EXPECT_FALSE(error) << error.message();
  EXPECT_EQ(counts.frames, kFrames);
  EXPECT_TRUE(counts.in_order);
  EXPECT_LT(counts.batches, kFrames / 100) << "many frames per receive";
  std::printf("[ info ] %zu one-byte frames in %zu batches\n", counts.frames, counts.batches);
}

TEST_P(FrameReaderSocketTest, SplitAtEveryByteOverASocket) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::vector<std::string> sent;
  std::string input;
  for (std::uint32_t i = 0; i < 40; ++i) {
    sent.push_back(pattern(i * 3, i));
    input += frame(sent.back());
  }
  // One byte per send, each in a turn of its own (the reader runs between them).
  reactor().spawn([](Reactor& r, StreamSocket& s, std::string d) -> Task<void> {
    for (char c : d) {
      if (!co_await s.send_all(as_bytes(std::string_view(&c, 1)))) co_return;
      co_await r.sleep(std::chrono::microseconds(20));  // a later turn: the reader sees this byte alone
    }
    (void)s.shutdown(ShutdownHow::send);
  }(reactor(), pair->first, input));
  FrameReader<StreamSocket> reader(pair->second);
  std::error_code error;
  EXPECT_EQ(run(read_all(reader, &error), 20s), sent);
  EXPECT_FALSE(error) << error.message();
}

TEST_P(FrameReaderSocketTest, AWaitingReaderHoldsNoBuffer) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  FrameReader<StreamSocket> reader(pair->second);
  std::optional<Result<std::optional<std::string>>> got;
  reactor().spawn([](FrameReader<StreamSocket>& r, auto& out) -> Task<void> {
    auto f = co_await r.next();
    if (!f) {
      out.emplace(fail(f.error()));
    } else {
      out.emplace(*f ? std::optional<std::string>(std::string(as_chars(**f))) : std::nullopt);
    }
  }(reader, got));
  run_for(20ms);
  EXPECT_FALSE(got);
  EXPECT_FALSE(reader.holds_buffer()) << "nothing pending: no receive buffer";
  EXPECT_EQ(reactor().receive_pool().stats().leased, 0u);

  std::string whole = frame("payload");
  ASSERT_TRUE(run([](StreamSocket& s, std::string d) -> Task<bool> {
    co_return (co_await s.send_all(as_bytes(d))).has_value();
  }(pair->first, whole.substr(0, 6))));
  ASSERT_TRUE(run_until([&] { return reader.buffered() == 6; }));
  EXPECT_TRUE(reader.holds_buffer()) << "half a frame is pending";
  EXPECT_FALSE(got);
  ASSERT_TRUE(run([](StreamSocket& s, std::string d) -> Task<bool> {
    co_return (co_await s.send_all(as_bytes(d))).has_value();
  }(pair->first, whole.substr(6))));
  ASSERT_TRUE(run_until([&] { return got.has_value(); }));
  ASSERT_TRUE(*got);
  EXPECT_EQ(**got, std::optional<std::string>("payload"));
}

TEST_P(FrameReaderSocketTest, CallbackFormDeliversBatchesUntilTheEnd) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  std::string input;
  for (int i = 0; i < 1000; ++i) input += frame(std::to_string(i));
  send_in_pieces(pair->first, input, 777);
  FrameReader<StreamSocket> reader(pair->second);

  // A small state machine: re-arms from its done handler until the end of the stream.
  struct Machine {
    FrameReader<StreamSocket>& reader;
    std::vector<std::string> frames;
    std::optional<Result<std::size_t>> last;
    bool inside_call = false;
    bool ran_inside_call = false;
    void arm() {
      inside_call = true;
      reader.async_next_batch([this](ConstBytes f) { frames.emplace_back(as_chars(f)); },
                              [this](Result<std::size_t> n) {
                                if (inside_call) ran_inside_call = true;
                                if (n && *n > 0) return arm();
                                last = n;
                              });
      inside_call = false;
    }
  } machine{reader, {}, {}};
  machine.arm();
  ASSERT_TRUE(run_until([&] { return machine.frames.size() == 1000; }));
  (void)pair->first.shutdown(ShutdownHow::send);
  ASSERT_TRUE(run_until([&] { return machine.last.has_value(); }));
  EXPECT_EQ(*machine.last, std::size_t{0}) << "a clean end";
  EXPECT_FALSE(machine.ran_inside_call);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(machine.frames[static_cast<std::size_t>(i)], std::to_string(i));
}

// A loop of next() over frames that each need a receive allocates nothing per call once warm.
TEST_P(FrameReaderSocketTest, SteadyReceiveLoopAllocatesNothingPerFrame) {
  auto pair = StreamSocket::pair(reactor());
  ASSERT_TRUE(pair);
  FrameReader<StreamSocket> reader(pair->second);
  struct Progress {
    int frames = 0;
    std::size_t allocations = SIZE_MAX;  // between frame 10 and frame 190
    int started_empty = 0;               // calls that found nothing buffered: they had to receive
    bool ended = false;
  } progress;
  std::optional<AllocationCounter> counter;
  reactor().spawn([](FrameReader<StreamSocket>& r, Progress& p, std::optional<AllocationCounter>& counter) -> Task<void> {
    for (;;) {
      if (r.buffered() == 0) ++p.started_empty;
      auto f = co_await r.next();
      if (!f || !*f) break;
      if (++p.frames == 10) counter.emplace();  // warm: the reader's resumer frame exists now
      if (p.frames == 190) p.allocations = counter->count();
    }
    p.ended = true;
  }(reader, progress, counter));
  // Each frame is sent on its own and the reader waits for it: every next() takes a receive.
  auto sender = [](Reactor& r, StreamSocket& s, int count) -> Task<void> {
    for (int i = 0; i < count; ++i) {
      std::byte header[4];
      detail::encode_frame_prefix(FramePrefix::u32_le, 8, header);
      std::byte message[12];
      std::memcpy(message, header, 4);
      std::memset(message + 4, 'x', 8);
      if (!co_await s.send_all(ConstBytes(message))) co_return;
      co_await r.sleep(std::chrono::microseconds(50));  // a later turn: the reader takes the frame first
    }
  };
  run(sender(reactor(), pair->first, 200), 20s);
  ASSERT_TRUE(run_until([&] { return progress.frames == 200; }));
  EXPECT_EQ(progress.allocations, 0u) << "allocations during 180 frames that each needed a receive (sender included)";
  EXPECT_GT(progress.started_empty, 180) << "the calls were meant to need a receive each";
  (void)pair->first.shutdown(ShutdownHow::send);
  EXPECT_TRUE(run_until([&] { return progress.ended; }));  // the reader goes before the coroutine using it
}

TEST_P(FrameReaderSocketTest, FramesFromAPythonPeer) {
  if (!program_runs({python3(), "-c", "import socket, struct, random"})) GTEST_SKIP() << "python3 is missing";
  auto listener = listen_loopback();
  ASSERT_TRUE(listener);
  // Frame i holds (i * 7919) % 70000 bytes (several larger than a pool buffer), byte j = (i + j) % 251; the
  // stream leaves in random pieces of 1..9000 bytes, with TCP_NODELAY so the pieces stay apart.
  const char* script = R"(
import socket, struct, random, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
cycle = bytes(range(251)) * 300
data = b"".join(struct.pack("<I", (i * 7919) % 70000) + cycle[i % 251:i % 251 + (i * 7919) % 70000] for i in range(200))
rng = random.Random(5)
at = 0
while at < len(data):
    n = rng.randint(1, 9000)
    s.sendall(data[at:at + n])
    at += n
s.close()
)";
  auto py = ChildProcess::spawn({python3(), "-c", script, std::to_string(listener->local_address()->port())});
  ASSERT_TRUE(py);
  auto conn = run([](StreamListener& l) -> Task<Result<StreamSocket>> { co_return co_await l.accept(); }(*listener));
  ASSERT_TRUE(conn);
  FrameReader<StreamSocket> reader(*conn);
  std::error_code error;
  auto frames = run(read_all(reader, &error), 20s);
  EXPECT_FALSE(error) << error.message();
  ASSERT_EQ(frames.size(), 200u);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    std::size_t size = (i * 7919) % 70000;
    ASSERT_EQ(frames[i].size(), size) << "frame " << i;
    for (std::size_t j = 0; j < size; j += 997)
      ASSERT_EQ(static_cast<unsigned char>(frames[i][j]), (i + j) % 251) << "frame " << i << " byte " << j;
  }
  EXPECT_EQ(py->wait(5s), 0);
}

RFARM_INSTANTIATE_BACKEND_TESTS(FrameReaderSocketTest);

}  // namespace
}  // namespace rfarm::test

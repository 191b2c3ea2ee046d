// BufferedStream over an in-memory stream: exact control of how the input is split across receives (every
// boundary, one byte at a time, random) and of how many sends leave. Tiny pool buffers make every read cross
// buffer boundaries, slide, and grow. The socket-level behaviour is in buffered_stream_test.cpp.
#include <gtest/gtest.h>

#include <string>

#include "test/support/memory_stream.hpp"
#include "reactor/stream/buffered_stream.hpp"

namespace rfarm::test {
namespace {

template <bool Pooled>
struct Mode {
  static constexpr bool pooled = Pooled;
};

template <class M>
class BufferedMemoryTest : public ::testing::Test {
 protected:
  using Stream = MemoryStream<M::pooled>;
  using Buffered = BufferedStream<Stream>;

  Buffered make(std::string input, Splits splits = {}) {
    return Buffered(Stream(std::move(input), splits, &pool_), pool_);
  }

  BufferPool pool_{16};  // 16-byte buffers: most reads span several
};

using Modes = ::testing::Types<Mode<false>, Mode<true>>;
struct ModeName {
  template <class M>
  static std::string GetName(int) {
    return M::pooled ? "recv_pooled" : "recv";
  }
};
TYPED_TEST_SUITE(BufferedMemoryTest, Modes, ModeName);

TYPED_TEST(BufferedMemoryTest, LinesEndInCrlfOrLfAndLoneCrIsData) {
  auto in = this->make("alpha\r\nbeta\ngam\rma\r\n\r\n\nlast", Splits::one_byte());
  EXPECT_EQ(run_now(in.read_line(100)).value(), "alpha");
  EXPECT_EQ(run_now(in.read_line(100)).value(), "beta");
  EXPECT_EQ(run_now(in.read_line(100)).value(), "gam\rma");
  EXPECT_EQ(run_now(in.read_line(100)).value(), "");
  EXPECT_EQ(run_now(in.read_line(100)).value(), "");
  auto end = run_now(in.read_line(100));
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error(), Errc::end_of_stream);
  EXPECT_EQ(as_chars(in.buffered()), "last");  // the partial line stays readable
}

TYPED_TEST(BufferedMemoryTest, EverySplitOfTheInputGivesTheSameRecords) {
  const std::string input = "GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY0123456789--end--tail\n";
  for (std::size_t max = 1; max <= input.size(); ++max) {
    for (std::uint32_t seed : {0u, 1u, 2u}) {
      auto in = this->make(input, Splits::random(max, seed));
      SCOPED_TRACE("max " + std::to_string(max) + " seed " + std::to_string(seed));
      EXPECT_EQ(run_now(in.read_line(64)).value(), "GET / HTTP/1.1");
      EXPECT_EQ(run_now(in.read_until("\r\n\r\n", 64)).value(), "Host: x");
      std::string body(14, '\0');
      EXPECT_EQ(run_now(in.read_exactly(as_writable_bytes(body))).value(), 14u);
      EXPECT_EQ(body, "BODY0123456789");
      EXPECT_EQ(run_now(in.read_until("--end--", 4)).value(), "");
      EXPECT_EQ(run_now(in.read_line(4)).value(), "tail");
      EXPECT_EQ(run_now(in.read_line(4)).error(), Errc::end_of_stream);
      EXPECT_EQ(this->pool_.stats().leased, 0u) << "an exhausted stream holds no buffer";
    }
  }
}

TYPED_TEST(BufferedMemoryTest, LineLimitCountsBytesBeforeTheTerminator) {
  // limit 10: ten bytes pass with CRLF or LF; eleven fail and stay buffered.
  auto in = this->make("0123456789\r\n0123456789\n01234567890\n", Splits::random(5, 7));
  EXPECT_EQ(run_now(in.read_line(10)).value(), "0123456789");
  EXPECT_EQ(run_now(in.read_line(10)).value(), "0123456789");
  auto too_long = run_now(in.read_line(10));
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error(), Errc::line_too_long);
  EXPECT_EQ(too_long.error(), std::errc::message_size);
  EXPECT_EQ(run_now(in.read_line(11)).value(), "01234567890") << "a failed read consumed nothing";
}

TYPED_TEST(BufferedMemoryTest, EndlessLineFailsWithoutReadingPastTheLimit) {
  auto in = this->make(std::string(100000, 'x'), Splits::whole());
  auto line = run_now(in.read_line(1000));
  ASSERT_FALSE(line);
  EXPECT_EQ(line.error(), Errc::line_too_long);
  EXPECT_LE(in.buffered().size(), 1000u + 2u + 16u) << "the reader stopped about the limit, not at the end";
}

TYPED_TEST(BufferedMemoryTest, LongLineGrowsPastThePoolBufferAndReturnsToThePool) {
  std::string line(5000, 'L');
  auto in = this->make(line + "\nshort\n", Splits::random(700, 3));
  EXPECT_EQ(run_now(in.read_line(5000)).value(), line);
  EXPECT_EQ(run_now(in.read_line(10)).value(), "short");
  EXPECT_LE(this->pool_.stats().allocated, 4u);
}

TYPED_TEST(BufferedMemoryTest, MultiByteDelimiterSplitAcrossReceives) {
  auto in = this->make("ab\r\n\rcd\r\n\r\nef", Splits::one_byte());
  EXPECT_EQ(run_now(in.read_until("\r\n\r\n", 10)).value(), "ab\r\n\rcd");
  EXPECT_EQ(as_chars(run_now(in.peek(2)).value()), "ef");
}

TYPED_TEST(BufferedMemoryTest, PeekWaitsForEnoughBytesAndConsumesNothing) {
  auto in = this->make("HELLO world", Splits::one_byte());
  auto head = run_now(in.peek(5));
  ASSERT_TRUE(head);
  EXPECT_EQ(as_chars(head->first(5)), "HELLO");
  in.consume(5);
  EXPECT_EQ(run_now(in.read_line(20)).error(), Errc::end_of_stream);
  EXPECT_EQ(as_chars(run_now(in.peek(100)).value()), " world") << "at the end of the stream peek gives what is left";
}

TYPED_TEST(BufferedMemoryTest, ReadSomeDrainsTheBufferBeforeReceiving) {
  auto in = this->make("line\nrest-of-it", Splits::whole());
  EXPECT_EQ(run_now(in.read_line(10)).value(), "line");
  std::string out(100, '\0');
  auto n = run_now(in.read_some(as_writable_bytes(out)));
  ASSERT_TRUE(n);
  EXPECT_EQ(out.substr(0, *n), "rest-of-it");
  EXPECT_EQ(run_now(in.read_some(as_writable_bytes(out))).value(), 0u) << "0 at end of stream";
}

TYPED_TEST(BufferedMemoryTest, ReadExactlyAtEndOfStreamFails) {
  auto in = this->make("short", Splits::whole());
  std::string out(10, '\0');
  auto n = run_now(in.read_exactly(as_writable_bytes(out)));
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), Errc::end_of_stream);
}

TYPED_TEST(BufferedMemoryTest, ReceiveErrorsReachTheCaller) {
  auto in = this->make("partial", Splits::whole());
  in.stream().end_error = std::make_error_code(std::errc::connection_reset);
  auto line = run_now(in.read_line(100));
  ASSERT_FALSE(line);
  EXPECT_EQ(line.error(), std::errc::connection_reset);
}

TYPED_TEST(BufferedMemoryTest, SmallWritesLeaveInOneSendAtFlush) {
  auto out = this->make("");
  for (const char* piece : {"a", "bc", "def", "\r\n"}) EXPECT_FALSE(run_now(out.write(std::string_view(piece))));
  EXPECT_EQ(out.stream().sends, 0u) << "writes that fit are only buffered";
  EXPECT_EQ(out.pending_output(), 8u);
  EXPECT_FALSE(run_now(out.flush()));
  EXPECT_EQ(out.stream().sends, 1u);
  EXPECT_EQ(out.stream().output, "abcdef\r\n");
  EXPECT_EQ(this->pool_.stats().leased, 0u) << "a flushed stream holds no buffer";
}

TYPED_TEST(BufferedMemoryTest, WriteThatDoesNotFitFlushesFirst) {
  auto out = this->make("");
  EXPECT_FALSE(run_now(out.write(std::string_view("0123456789"))));
  EXPECT_FALSE(run_now(out.write(std::string_view("abcdefghij"))));  // 20 > 16: the first ten leave, padded
  EXPECT_EQ(out.stream().sends, 1u);
  EXPECT_EQ(out.stream().output, "0123456789abcdef");
  EXPECT_FALSE(run_now(out.flush()));
  EXPECT_EQ(out.stream().output, "0123456789abcdefghij");
}

TYPED_TEST(BufferedMemoryTest, LargeWriteLeavesWithTheBufferedBytesInOneGatheredSend) {
  auto out = this->make("");
  std::string big(100, 'B');
  EXPECT_FALSE(run_now(out.write(std::string_view("head:"))));
  EXPECT_FALSE(run_now(out.write(std::string_view(big))));
  EXPECT_EQ(out.stream().sends, 1u);
  EXPECT_EQ(out.stream().gathered_sends, 1u);
  EXPECT_EQ(out.stream().output, "head:" + big);
  EXPECT_EQ(out.pending_output(), 0u);
}

TYPED_TEST(BufferedMemoryTest, WriteErrorIsSticky) {
  auto out = this->make("");
  out.stream().send_error = std::make_error_code(std::errc::broken_pipe);
  EXPECT_FALSE(run_now(out.write(std::string_view("abc"))));
  EXPECT_EQ(run_now(out.flush()), std::errc::broken_pipe);
  out.stream().send_error = {};
  EXPECT_EQ(run_now(out.write(std::string_view("x"))), std::errc::broken_pipe);
  EXPECT_EQ(run_now(out.flush()), std::errc::broken_pipe);
}

// A loop of reads that each need a Task but complete without suspending (the data is there) must not nest
// stack frames per iteration: without tail calls (AddressSanitizer builds) that overflowed the stack.
TEST(MaybeReadyTest, LongRunsOfSynchronousSlowReadsKeepTheStackFlat) {
  constexpr int kLines = 200000;
  std::string input;
  for (int i = 0; i < kLines; ++i) input += "x\n";
  BufferPool pool(16);
  BufferedStream<MemoryStream<>> in(MemoryStream<>(std::move(input), Splits::one_byte()), pool);
  auto count = run_now([](BufferedStream<MemoryStream<>>& in) -> Task<int> {
    int n = 0;
    while (true) {
      auto line = co_await in.read_line(4);  // one byte per receive: every line takes the slow path
      if (!line) co_return n;
      ++n;
    }
  }(in));
  EXPECT_EQ(count, kLines);
}

TEST(MaybeReadyTest, ReadyResultNeedsNoTask) {
  BufferPool pool(64);
  BufferedStream<MemoryStream<>> in(MemoryStream<>("one\ntwo\n"), pool);
  EXPECT_FALSE(in.read_line(10).ready()) << "nothing buffered yet: the read needs I/O";
  auto first = run_now(in.read_line(10));
  auto second = in.read_line(10);
  EXPECT_TRUE(second.ready()) << "the second line was buffered by the first receive";
  EXPECT_EQ(run_now(std::move(second)).value(), "two");
  (void)first;
}

}  // namespace
}  // namespace rfarm::test

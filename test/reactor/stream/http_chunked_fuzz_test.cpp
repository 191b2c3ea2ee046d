// The chunked reader on hostile input, in memory (no reactor: every receive completes at once): a table of
// malformed bodies with the error each must give, limits, a round trip through the writer, and a
// libFuzzer-style run over random and mutated encodings (fixed seed, bounded iterations) that must never
// crash, hang or report anything but an HTTP error. Tiny pool buffers and random receive splits make every
// token cross buffer boundaries.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "test/support/memory_stream.hpp"
#include "reactor/stream/http_chunked.hpp"

namespace rfarm::test {
namespace {

using Stream = MemoryStream<true>;
using Buffered = BufferedStream<Stream>;

struct Decoded {
  Result<std::string> body = std::string();
  std::vector<HeaderField> trailers;
  std::string after;  // what is left in the stream after the body
};

Decoded decode(BufferPool& pool, std::string input, Splits splits = Splits::random(7, 1), ChunkedLimits limits = {},
               std::size_t max_body = 1 << 20) {
  Buffered in(Stream(std::move(input), splits, &pool), pool);
  ChunkedReader reader(in, limits);
  Decoded d;
  d.body = run_now(reader.read_all(max_body));
  d.trailers = reader.trailers();
  if (d.body) {
    std::string rest(64, '\0');
    auto n = run_now(in.read_some(as_writable_bytes(rest)));
    d.after = rest.substr(0, n ? *n : 0);
  }
  return d;
}

class ChunkedReaderTest : public ::testing::Test {
 protected:
  BufferPool pool_{16};
};

TEST_F(ChunkedReaderTest, DecodesChunksExtensionsAndTrailersAndStopsAtTheBodyEnd) {
  auto d = decode(pool_,
                  "5\r\nhello\r\n"
                  "1;name=value\r\n,\r\n"
                  "006 ; a ; b=\"q;x\"\r\n world\r\n"
                  "A\r\n0123456789\r\n"
                  "0\r\nX-Sum: 42\r\nX-Empty:\r\nX-Spaced:  v  \r\n\r\n"
                  "NEXT");
  ASSERT_TRUE(d.body) << d.body.error().message();
  EXPECT_EQ(*d.body, "hello, world0123456789");
  EXPECT_EQ(d.trailers, (std::vector<HeaderField>{{"X-Sum", "42"}, {"X-Empty", ""}, {"X-Spaced", "v"}}));
  EXPECT_EQ(d.after, "NEXT") << "the next message stays in the stream";
}

TEST_F(ChunkedReaderTest, AcceptsBareLfLineEnds) {
  auto d = decode(pool_, "3\nabc\n0\nT: 1\n\n");
  ASSERT_TRUE(d.body) << d.body.error().message();
  EXPECT_EQ(*d.body, "abc");
  EXPECT_EQ(d.trailers, (std::vector<HeaderField>{{"T", "1"}}));
}

struct Malformed {
  const char* name;
  std::string input;
  HttpErrc error;
};

TEST_F(ChunkedReaderTest, MalformedInputGivesItsError) {
  const Malformed cases[] = {
      {"empty input", "", HttpErrc::truncated_body},
      {"not hex", "zz\r\n", HttpErrc::bad_chunk_size},
      {"0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", HttpErrc::bad_chunk_size},
      {"leading space", " 5\r\nhello\r\n0\r\n\r\n", HttpErrc::bad_chunk_size},
      {"sign", "-5\r\nhello\r\n0\r\n\r\n", HttpErrc::bad_chunk_size},
      {"empty size", "\r\nhello\r\n", HttpErrc::bad_chunk_size},
      {"junk after size", "5x\r\nhello\r\n0\r\n\r\n", HttpErrc::bad_chunk_size},
      {"control char in extension", std::string("5;a\x01\r\nhello\r\n0\r\n\r\n"), HttpErrc::bad_chunk_size},
      {"NUL in extension", std::string("5;a\0b\r\nhello\r\n0\r\n\r\n", 20), HttpErrc::bad_chunk_size},
      {"lone CR in size line", "5\rX\r\nhello\r\n0\r\n\r\n", HttpErrc::bad_chunk_size},
      {"size beyond 64 bits", "1FFFFFFFFFFFFFFFF\r\n", HttpErrc::chunk_too_large},
      {"size above the limit", "40000001\r\n", HttpErrc::chunk_too_large},
      {"data longer than its size", "5\r\nhello!\r\n0\r\n\r\n", HttpErrc::bad_chunk_end},
      {"no CRLF after data", "5\r\nhelloXYZ", HttpErrc::bad_chunk_end},
      {"data cut short", "5\r\nhel", HttpErrc::truncated_body},
      {"no last chunk", "5\r\nhello\r\n", HttpErrc::truncated_body},
      {"no empty line after trailers", "0\r\nX: 1\r\n", HttpErrc::truncated_body},
      {"trailer without colon", "0\r\nnot a field\r\n\r\n", HttpErrc::bad_trailer},
      {"trailer with empty name", "0\r\n: v\r\n\r\n", HttpErrc::bad_trailer},
      {"obsolete line folding", "0\r\nX: 1\r\n  folded\r\n\r\n", HttpErrc::bad_trailer},
      {"space before colon", "0\r\nX : 1\r\n\r\n", HttpErrc::bad_trailer},
      {"control char in trailer value", "0\r\nX: a\x7f\r\n\r\n", HttpErrc::bad_trailer},
      {"endless size line", std::string(5000, '0'), HttpErrc::chunk_line_too_long},
      {"endless extension", "5;" + std::string(5000, 'e') + "\r\n", HttpErrc::chunk_line_too_long},
  };
  for (const Malformed& c : cases) {
    for (Splits splits : {Splits::whole(), Splits::one_byte(), Splits::random(5, 9)}) {
      auto d = decode(pool_, c.input, splits);
      ASSERT_FALSE(d.body) << c.name << ": decoded \"" << *d.body << "\"";
      EXPECT_EQ(d.body.error(), make_error_code(c.error)) << c.name << ": " << d.body.error().message();
      EXPECT_TRUE(d.body.error() == std::errc::bad_message || d.body.error() == std::errc::message_size)
          << c.name << ": every reader error maps to a portable condition";
    }
  }
}

TEST_F(ChunkedReaderTest, LimitsAreEnforced) {
  ChunkedLimits small{.max_chunk_size = 16, .max_line_length = 12, .max_trailer_bytes = 20, .max_trailer_fields = 2};
  EXPECT_EQ(decode(pool_, "11\r\n", {}, small).body.error(), HttpErrc::chunk_too_large);
  EXPECT_TRUE(decode(pool_, "10\r\n0123456789abcdef\r\n0\r\n\r\n", {}, small).body);
  EXPECT_EQ(decode(pool_, "1;abcdefghijk\r\n", {}, small).body.error(), HttpErrc::chunk_line_too_long);
  EXPECT_EQ(decode(pool_, "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", {}, small).body.error(), HttpErrc::trailers_too_large);
  EXPECT_EQ(decode(pool_, "0\r\nA: 123456\r\nB: 123456\r\n\r\n", {}, small).body.error(), HttpErrc::trailers_too_large);
  EXPECT_EQ(decode(pool_, "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n", {}, {}, 7).body.error(), HttpErrc::body_too_large);
  EXPECT_EQ(decode(pool_, "4\r\nabcd\r\n4\r\nefgh\r\n0\r\n\r\n", {}, {}, 8).body.value(), "abcdefgh");
}

TEST_F(ChunkedReaderTest, FailedReaderKeepsReportingItsError) {
  Buffered in(Stream("zz\r\n5\r\nhello\r\n0\r\n\r\n", {}, &pool_), pool_);
  ChunkedReader reader(in);
  std::byte buf[16];
  EXPECT_EQ(run_now(reader.read(buf)).error(), HttpErrc::bad_chunk_size);
  EXPECT_EQ(reader.state(), ChunkedState::failed);
  EXPECT_EQ(run_now(reader.read(buf)).error(), HttpErrc::bad_chunk_size);
}

TEST(ChunkedWriterTest, EncodesChunksAndTrailersAndRefusesUnsafeFields) {
  BufferPool pool(64);
  Buffered out(Stream("", {}, &pool), pool);
  ChunkedWriter writer(out);
  EXPECT_FALSE(run_now(writer.write(std::string_view("hello"))));
  EXPECT_FALSE(run_now(writer.write(std::string_view(""))));
  EXPECT_FALSE(run_now(writer.write(std::string(300, 'x'))));
  HeaderField bad[] = {{"X-Bad", "a\r\nInjected: yes"}};
  EXPECT_EQ(run_now(writer.finish(bad)), HttpErrc::invalid_field);
  HeaderField bad_name[] = {{"X Bad", "v"}};
  EXPECT_EQ(run_now(writer.finish(bad_name)), HttpErrc::invalid_field);
  HeaderField good[] = {{"X-Sum", "1"}};
  EXPECT_FALSE(run_now(writer.finish(good)));
  EXPECT_EQ(out.stream().output, "5\r\nhello\r\n12c\r\n" + std::string(300, 'x') + "\r\n0\r\nX-Sum: 1\r\n\r\n");
  EXPECT_EQ(run_now(writer.write(std::string_view("late"))), std::errc::operation_not_permitted);
}

// --- fuzzing ----------------------------------------------------------------------------------------------

struct Encoded {
  std::string wire;
  std::string body;
  std::vector<HeaderField> trailers;
};

// A valid encoding with random chunk sizes, hex case, leading zeros, extensions, line ends and trailers.
Encoded random_encoding(std::mt19937& rng) {
  auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
  Encoded e;
  std::size_t chunks = pick(0, 6);
  for (std::size_t i = 0; i < chunks; ++i) {
    std::size_t size = pick(0, 3) == 0 ? pick(1, 3000) : pick(1, 40);
    std::string data(size, '\0');
    for (char& c : data) c = static_cast<char>(pick(0, 255));
    char hex[32];
    std::snprintf(hex, sizeof hex, pick(0, 1) ? "%0*zx" : "%0*zX", static_cast<int>(pick(1, 5)), size);
    std::string eol = pick(0, 3) == 0 ? "\n" : "\r\n";
    std::string ext = pick(0, 2) == 0 ? ";e" + std::to_string(pick(0, 99)) + "=v" : "";
    e.wire += hex + ext + eol + data + eol;
    e.body += data;
  }
  e.wire += "0\r\n";
  for (std::size_t t = pick(0, 3); t > 0; --t) {
    HeaderField f{"T" + std::to_string(pick(0, 999)), "v" + std::to_string(pick(0, 99999))};
    e.wire += f.name + ": " + f.value + "\r\n";
    e.trailers.push_back(f);
  }
  e.wire += "\r\n";
  return e;
}

std::string mutate(std::string s, std::mt19937& rng) {
  auto pick = [&](std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng); };
  static const char kInteresting[] = {'\r', '\n', ';', ':', '0', 'f', 'F', ' ', '\t', '\0', 'x', '-'};
  for (std::size_t m = pick(1, 4); m > 0; --m) {
    std::size_t at = s.empty() ? 0 : pick(0, s.size() - 1);
    switch (pick(0, 5)) {
      case 0: if (!s.empty()) s[at] = static_cast<char>(pick(0, 255)); break;          // random byte
      case 1: s.insert(at, 1, kInteresting[pick(0, sizeof kInteresting - 1)]); break;   // a syntax byte
      case 2: if (!s.empty()) s.erase(at, pick(1, 8)); break;                           // delete a run
      case 3: s.resize(at); break;                                                      // truncate
      case 4: s.insert(at, s.substr(at, pick(1, 16))); break;                           // duplicate a run
      case 5: s.insert(at, std::string(pick(1, 6), 'f')); break;                        // grow a size
    }
  }
  return s;
}

// Decodes input; every outcome must be a body or an HTTP error, and a body can never exceed the input.
::testing::AssertionResult decodes_safely(BufferPool& pool, const std::string& input, std::uint32_t seed,
                                          int* failures = nullptr) {
  ChunkedLimits limits{.max_chunk_size = 1 << 20, .max_line_length = 256, .max_trailer_bytes = 1024,
                       .max_trailer_fields = 8};
  auto d = decode(pool, input, Splits::random(1 + seed % 37, seed | 1), limits, 1 << 20);
  if (d.body && d.body->size() > input.size()) return ::testing::AssertionFailure() << "body larger than its encoding";
  if (!d.body && d.body.error().category() != http_category())
    return ::testing::AssertionFailure() << "non-HTTP error " << d.body.error().message();
  if (pool.stats().leased != 0) return ::testing::AssertionFailure() << "a pool buffer leaked";
  if (failures && !d.body) ++*failures;
  return ::testing::AssertionSuccess();
}

TEST(ChunkedFuzzTest, ValidEncodingsRoundTripUnderRandomSplits) {
  std::mt19937 rng(20240611);
  BufferPool pool(16);
  for (int i = 0; i < 2000; ++i) {
    Encoded e = random_encoding(rng);
    auto d = decode(pool, e.wire, Splits::random(1 + i % 50, static_cast<std::uint32_t>(i + 1)));
    ASSERT_TRUE(d.body) << "iteration " << i << ": " << d.body.error().message();
    ASSERT_EQ(*d.body, e.body) << "iteration " << i;
    ASSERT_EQ(d.trailers, e.trailers) << "iteration " << i;
  }
}

TEST(ChunkedFuzzTest, WriterOutputDecodesToTheSameBody) {
  std::mt19937 rng(7);
  BufferPool pool(32);
  for (int i = 0; i < 300; ++i) {
    Buffered out(Stream("", {}, &pool), pool);
    ChunkedWriter writer(out);
    std::string body;
    for (std::size_t pieces = rng() % 6; pieces > 0; --pieces) {
      std::string piece(rng() % 200, '\0');
      for (char& c : piece) c = static_cast<char>(rng());
      ASSERT_FALSE(run_now(writer.write(piece)));
      body += piece;
    }
    HeaderField trailers[] = {{"X-Iteration", std::to_string(i)}};
    ASSERT_FALSE(run_now(writer.finish(trailers)));
    auto d = decode(pool, out.stream().output, Splits::random(13, static_cast<std::uint32_t>(i + 1)));
    ASSERT_TRUE(d.body) << d.body.error().message();
    ASSERT_EQ(*d.body, body);
    ASSERT_EQ(d.trailers.size(), 1u);
  }
}

TEST(ChunkedFuzzTest, MutatedEncodingsNeverCrashOrMisreport) {
  std::mt19937 rng(0xC0FFEE);
  BufferPool pool(16);
  int failures = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string input = mutate(random_encoding(rng).wire, rng);
    ASSERT_TRUE(decodes_safely(pool, input, static_cast<std::uint32_t>(i), &failures)) << "iteration " << i;
  }
  EXPECT_GT(failures, 1000) << "the mutations should break most encodings; the fuzzer is not biting";
}

TEST(ChunkedFuzzTest, RandomBytesNeverCrashOrMisreport) {
  std::mt19937 rng(99);
  BufferPool pool(16);
  for (int i = 0; i < 5000; ++i) {
    std::string input(rng() % 300, '\0');
    const bool hexish = i % 2 == 0;  // half of them from a small alphabet, so that some parse far
    for (char& c : input) c = hexish ? "0123456789abcdef;:\r\n \t"[rng() % 22] : static_cast<char>(rng());
    ASSERT_TRUE(decodes_safely(pool, input, static_cast<std::uint32_t>(i))) << "iteration " << i;
  }
}

}  // namespace
}  // namespace rfarm::test

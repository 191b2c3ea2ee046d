// reactor/stream/frame_reader: FrameReader<S> (length-prefixed frames over a byte stream) on arbitrary bytes, over
// an in-memory stream split at random, pooled and not, through next() and next_batch(). The frames and the error
// that ends them must equal what a model computes from the whole input: prefix by prefix, frame_too_large above
// max_frame_size, empty_frame when empty frames are refused, truncated_frame when the stream ends inside a frame.
//
// Input: [options byte][split byte][max_frame_size byte][stream bytes...]; the options byte also picks the reader.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "reactor/stream/frame_reader.hpp"
#include "test/fuzz/fuzz_check.hpp"
#include "test/support/memory_stream.hpp"

namespace {

using rfarm::Errc;
using rfarm::FramePrefix;
using rfarm::FrameReader;
using rfarm::FrameReaderOptions;
using rfarm::Task;
using rfarm::test::MemoryStream;
using rfarm::test::run_now;
using rfarm::test::Splits;

struct Outcome {
  std::vector<std::string> frames;
  std::error_code error;  // what ended them; none at a clean end
  bool operator==(const Outcome&) const = default;
};

// The model: the whole stream, decoded in one pass.
Outcome model(std::string_view in, const FrameReaderOptions& options) {
  Outcome out;
  const bool wide = options.prefix == FramePrefix::u32_le || options.prefix == FramePrefix::u32_be;
  const bool little = options.prefix == FramePrefix::u32_le || options.prefix == FramePrefix::u16_le;
  const std::size_t header = wide ? 4 : 2;
  std::size_t at = 0;
  for (;;) {
    if (at == in.size()) return out;
    if (in.size() - at < header) {
      out.error = Errc::truncated_frame;
      return out;
    }
    std::uint64_t length = 0;
    for (std::size_t i = 0; i < header; ++i) {
      auto byte = static_cast<std::uint8_t>(in[at + (little ? header - 1 - i : i)]);
      length = (length << 8) | byte;
    }
    if (length > options.max_frame_size) {
      out.error = Errc::frame_too_large;
      return out;
    }
    if (length == 0 && !options.allow_empty_frames) {
      out.error = Errc::empty_frame;
      return out;
    }
    if (in.size() - at - header < length) {
      out.error = Errc::truncated_frame;
      return out;
    }
    out.frames.emplace_back(in.substr(at + header, length));
    at += header + length;
  }
}

template <class S>
Task<Outcome> read_next(FrameReader<S>& reader) {
  Outcome out;
  for (;;) {
    auto next = co_await reader.next();
    if (!next) {
      out.error = next.error();
      co_return out;
    }
    if (!*next) co_return out;
    out.frames.emplace_back(rfarm::as_chars(**next));
  }
}

template <class S>
Task<Outcome> read_batches(FrameReader<S>& reader) {
  Outcome out;
  for (;;) {
    auto n = co_await reader.next_batch([&](rfarm::ConstBytes f) { out.frames.emplace_back(rfarm::as_chars(f)); });
    if (!n) {
      out.error = n.error();
      co_return out;
    }
    if (*n == 0) co_return out;
  }
}

template <bool Pooled>
Outcome read(const std::string& input, Splits splits, const FrameReaderOptions& options, std::size_t buffer,
             bool batches) {
  rfarm::BufferPool pool(buffer);
  MemoryStream<Pooled> stream(input, splits, &pool);
  FrameReader<MemoryStream<Pooled>> reader(stream, pool, options);
  Outcome out = batches ? run_now(read_batches(reader)) : run_now(read_next(reader));
  FUZZ_CHECK(out.error || !reader.holds_buffer(), "a reader at a clean end holds no buffer");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  FrameReaderOptions options;
  options.prefix = static_cast<FramePrefix>(data[0] % 4);
  options.allow_empty_frames = (data[0] & 4) == 0;
  // A declared length up to the limit is allocated once its header arrives (by design): 64 KiB keeps runs fast.
  options.max_frame_size = (data[0] & 8) ? std::size_t{64} << 10 : data[2];
  const std::uint8_t split = data[1];
  const std::string input(reinterpret_cast<const char*>(data + 3), size - 3);
  const Splits splits = (split & 0x80) ? Splits::random(1 + split % 29, split) : Splits{1 + split % 7u, 0};
  const std::size_t buffer = 16 + split % 64;  // frames above the pool buffer size go to a heap block

  // One reader per input, picked by the options byte (the fuzzer reaches all three through it): running all three
  // on every input tripled the cost of an execution.
  const Outcome want = model(input, options);
  switch ((data[0] >> 4) % 3) {
    case 0:
      FUZZ_CHECK(read<false>(input, splits, options, buffer, false) == want, "next() agrees with the model");
      break;
    case 1:
      FUZZ_CHECK(read<true>(input, splits, options, buffer, false) == want, "next() over pooled receives agrees");
      break;
    default:
      FUZZ_CHECK(read<true>(input, splits, options, buffer, true) == want, "next_batch() agrees with the model");
      break;
  }
  return 0;
}

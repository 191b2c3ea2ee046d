// FrameReader: a byte stream in, verified frames out, whatever the stream's chunking; frames from a peer whose
// lengths are not multiples of 8 are realigned; a broken stream is one error.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "farm/protocol/frame_codec.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

// Pulls every available frame; returns the task ids of Submits and the nonces of Pings, in order.
std::vector<std::uint64_t> drain(FrameReader& reader, std::error_code* error = nullptr) {
  std::vector<std::uint64_t> ids;
  for (;;) {
    auto next = reader.next();
    if (!next) {
      if (error) *error = next.error();
      return ids;
    }
    if (!*next) return ids;
    const FrameView& f = **next;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(f.bytes().data()) % 8, 0u);
    if (auto* s = f.as<wire::Submit>()) ids.push_back(s->task_id());
    if (auto* p = f.as<wire::Ping>()) ids.push_back(p->nonce());
    if (auto* e = f.as<wire::EndServer>()) ids.push_back(1000 + e->reason()->size());
  }
}

std::vector<std::byte> three_submits() {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto args = encode_value(std::vector<std::string>{"a", "bc"});
  for (std::uint64_t id : {11, 12, 13})
    EXPECT_FALSE(encoder.submit(out, {.task_id = id, .task = "echo", .args = as_const_bytes(args)}));
  return out;
}

TEST(FrameReaderTest, WholeBufferAtOnce) {
  FrameReader reader;
  reader.append(three_submits());
  EXPECT_EQ(drain(reader), (std::vector<std::uint64_t>{11, 12, 13}));
  EXPECT_EQ(reader.buffered(), 0u);
}

TEST(FrameReaderTest, SplitAtEveryByteBoundary) {
  std::vector<std::byte> stream = three_submits();
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameReader reader;
    reader.append(ConstBytes(stream).first(cut));
    std::vector<std::uint64_t> ids = drain(reader);
    reader.append(ConstBytes(stream).subspan(cut));
    std::vector<std::uint64_t> rest = drain(reader);
    ids.insert(ids.end(), rest.begin(), rest.end());
    EXPECT_EQ(ids, (std::vector<std::uint64_t>{11, 12, 13})) << "cut at " << cut;
  }
}

TEST(FrameReaderTest, OneByteAtATime) {
  std::vector<std::byte> stream = three_submits();
  FrameReader reader({}, 64);  // small: it must grow
  std::vector<std::uint64_t> ids;
  for (std::byte b : stream) {
    MutableBytes space = reader.writable(1);
    space[0] = b;
    reader.commit(1);
    auto got = drain(reader);
    ids.insert(ids.end(), got.begin(), got.end());
  }
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{11, 12, 13}));
}

// An EndServer frame built as another library might: minimum alignment 4, so its length need not be a multiple of 8.
std::vector<std::byte> loosely_aligned_end_server(std::size_t reason_length) {
  flatbuffers::FlatBufferBuilder b;
  auto reason = b.CreateString(std::string(reason_length, 'r'));
  auto end = wire::CreateEndServer(b, reason);
  b.FinishSizePrefixed(wire::CreateFrame(b, wire::Message::EndServer, end.Union()), wire::FrameIdentifier());
  return {reinterpret_cast<const std::byte*>(b.GetBufferPointer()),
          reinterpret_cast<const std::byte*>(b.GetBufferPointer()) + b.GetSize()};
}

TEST(FrameReaderTest, RealignsAfterAFrameWhoseLengthIsNotAMultipleOfEight) {
  std::vector<std::byte> odd;
  std::size_t reason_length = 0;
  for (; reason_length < 8; ++reason_length) {
    odd = loosely_aligned_end_server(reason_length);
    if (odd.size() % 8 != 0) break;
  }
  ASSERT_NE(odd.size() % 8, 0u) << "could not build a frame of a length 4 mod 8";
  FrameEncoder encoder;
  std::vector<std::byte> stream = odd;
  ASSERT_FALSE(encoder.ping(stream, 77));  // now at offset 4 mod 8: decoding in place would be misaligned
  stream.insert(stream.end(), odd.begin(), odd.end());
  ASSERT_FALSE(encoder.ping(stream, 78));
  FrameReader reader;
  reader.append(stream);
  std::vector<std::uint64_t> ids = drain(reader);
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{1000 + reason_length, 77, 1000 + reason_length, 78}));
}

TEST(FrameReaderTest, GrowsForALargeFrame) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  flexbuffers::Builder args;
  args.Vector([&] { args.Blob(std::vector<std::uint8_t>(3 << 20, 5)); });
  args.Finish();
  ASSERT_FALSE(encoder.submit(out, {.task_id = 99, .task = "echo", .args = as_const_bytes(args.GetBuffer())}));
  FrameReader reader({}, 1024);
  for (std::size_t at = 0; at < out.size(); at += 65536)
    reader.append(ConstBytes(out).subspan(at, std::min<std::size_t>(65536, out.size() - at)));
  EXPECT_EQ(drain(reader), std::vector<std::uint64_t>{99});
}

TEST(FrameReaderTest, ABrokenStreamIsOneError) {
  FrameReader reader;
  std::vector<std::byte> stream = three_submits();
  stream[0] = std::byte{0};
  stream[1] = std::byte{0};
  stream[2] = std::byte{0};
  stream[3] = std::byte{0};
  reader.append(stream);
  std::error_code error;
  EXPECT_TRUE(drain(reader, &error).empty());
  EXPECT_EQ(error, FarmErrc::frame_empty);
}

TEST(FrameReaderTest, AnOversizedPrefixIsRefusedAtOnce) {
  FrameLimits limits;
  limits.max_frame_size = 4096;
  FrameReader reader(limits);
  std::uint32_t length = 1u << 30;
  std::byte prefix[4];
  std::memcpy(prefix, &length, 4);
  reader.append(prefix);
  std::error_code error;
  drain(reader, &error);
  EXPECT_EQ(error, FarmErrc::frame_too_large) << "without buffering a gigabyte first";
}

TEST(FrameReaderTest, AnAnnouncedLengthAloneReservesNothing) {
  FrameReader reader({}, 4096);
  std::uint32_t length = 32u << 20;  // within the 64 MiB maximum, but nothing follows
  std::byte prefix[4];
  std::memcpy(prefix, &length, 4);
  reader.append(prefix);
  std::error_code error;
  EXPECT_TRUE(drain(reader, &error).empty());
  EXPECT_FALSE(error);
  EXPECT_LE(reader.capacity(), 4096u) << "memory follows the bytes that arrived, not the peer's claim";
}

TEST(FrameReaderTest, GarbageNeverCrashesTheReader) {
  std::mt19937 random(99);
  FrameLimits limits;
  limits.max_frame_size = 1 << 16;
  for (int round = 0; round < 300; ++round) {
    FrameReader reader(limits, 256);
    std::vector<std::byte> stream = three_submits();
    for (int flips = 0; flips < 1 + round % 5; ++flips)
      stream[random() % stream.size()] = static_cast<std::byte>(random());
    std::size_t at = 0;
    std::error_code error;
    while (at < stream.size() && !error) {
      std::size_t n = std::min<std::size_t>(1 + random() % 40, stream.size() - at);
      reader.append(ConstBytes(stream).subspan(at, n));
      at += n;
      drain(reader, &error);
    }
  }
  SUCCEED() << "every mutated stream ended in frames, a wait for more, or one error";
}

}  // namespace
}  // namespace rfarm::farm

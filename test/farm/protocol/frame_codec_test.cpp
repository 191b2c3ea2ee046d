// Frames: every message encodes and decodes to itself; many frames share one buffer; frames are multiples of 8
// and carry their FlexBuffers 8-byte aligned; and decoding refuses garbage, truncation, oversize, a length of 0, an
// unverifiable table, an unknown message, and FlexBuffer arguments too deep or too expansive.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "farm/protocol/frame_codec.hpp"
#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

// Bytes at an 8-byte aligned address, as FrameReader would hold them.
class Aligned {
 public:
  explicit Aligned(ConstBytes bytes) : words_(bytes.size() / 8 + 1), size_(bytes.size()) {
    if (!bytes.empty()) std::memcpy(words_.data(), bytes.data(), bytes.size());
  }
  ConstBytes bytes() const { return {reinterpret_cast<const std::byte*>(words_.data()), size_}; }
  std::byte* data() { return reinterpret_cast<std::byte*>(words_.data()); }

 private:
  std::vector<std::uint64_t> words_;
  std::size_t size_;
};

Result<FrameView> decode_aligned(const Aligned& a, const FrameLimits& limits = {}) {
  return decode_frame(a.bytes(), limits);
}

std::vector<std::uint8_t> args_of_values(std::initializer_list<std::int64_t> values) {
  return encode_value(std::vector<std::int64_t>(values));
}

TEST(FrameCodecTest, HelloRoundTrips) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(
      encoder.hello(out, {.protocol_version = 1, .features = 0b1011, .client_name = "kernel", .auth_token = "s3cret"}));
  Aligned frame(out);
  auto view = decode_aligned(frame);
  ASSERT_TRUE(view) << view.error().message();
  ASSERT_EQ(view->type(), wire::Message::Hello);
  const wire::Hello* hello = view->as<wire::Hello>();
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(view->as<wire::Submit>(), nullptr);
  EXPECT_EQ(hello->protocol_version(), 1u);
  EXPECT_EQ(hello->features(), 0b1011u);
  EXPECT_EQ(hello->client_name()->str(), "kernel");
  EXPECT_EQ(hello->auth_token()->str(), "s3cret");
}

TEST(FrameCodecTest, WelcomeRoundTrips) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.welcome(out, {.accepted = false, .reason = "no", .features = 3, .server_version = "0.1.0",
                                     .max_frame_size = 1024, .cores = 2, .workers = 4}));
  Aligned frame(out);
  auto view = decode_aligned(frame);
  ASSERT_TRUE(view);
  const wire::Welcome* w = view->as<wire::Welcome>();
  ASSERT_NE(w, nullptr);
  EXPECT_FALSE(w->accepted());
  EXPECT_EQ(w->reason()->str(), "no");
  EXPECT_EQ(w->protocol_version(), kProtocolVersion);
  EXPECT_EQ(w->features(), 3u);
  EXPECT_EQ(w->server_version()->str(), "0.1.0");
  EXPECT_EQ(w->max_frame_size(), 1024u);
  EXPECT_EQ(w->cores(), 2u);
  EXPECT_EQ(w->workers(), 4u);
}

TEST(FrameCodecTest, SubmitRoundTripsWithItsArguments) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto args = args_of_values({1, -2, 1ll << 40});
  ASSERT_FALSE(encoder.submit(out, {.task_id = 0xFFFFFFFFFFFFFFFFull,
                                    .task = "add",
                                    .args = as_const_bytes(args),
                                    .deadline_ms = 250,
                                    .flags = static_cast<std::uint32_t>(wire::SubmitFlags::broadcast)}));
  Aligned frame(out);
  auto view = decode_aligned(frame);
  ASSERT_TRUE(view) << view.error().message();
  const wire::Submit* s = view->as<wire::Submit>();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->task_id(), 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(s->task()->str(), "add");
  EXPECT_EQ(s->deadline_ms(), 250u);
  EXPECT_EQ(s->flags(), 1u);
  ConstBytes carried = args_of(*s);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(carried.data()) % 8, 0u) << "FlexBuffers travel 8-byte aligned";
  auto back = decode_value<std::vector<std::int64_t>>(carried);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, (std::vector<std::int64_t>{1, -2, 1ll << 40}));
}

TEST(FrameCodecTest, ASubmitWithoutArgumentsCarriesNone) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.submit(out, {.task_id = 1, .task = "info"}));
  Aligned frame(out);
  auto view = decode_aligned(frame);
  ASSERT_TRUE(view);
  EXPECT_TRUE(args_of(*view->as<wire::Submit>()).empty());
}

TEST(FrameCodecTest, ResultAndFailureRoundTrip) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto value = encode_value(std::map<std::string, double>{{"pi", 3.14}});
  ASSERT_FALSE(encoder.result(out, 9, as_const_bytes(value)));
  ASSERT_FALSE(encoder.failure(
      out, {.task_id = 10, .kind = FailureKind::bad_arguments, .message = "argument 1 ...", .task = "f"}));
  Aligned frames(out);
  FrameSplit first = split_frame(frames.bytes());
  ASSERT_EQ(first.status, SplitStatus::frame);
  auto result = decode_frame(frames.bytes().first(first.size));
  ASSERT_TRUE(result);
  const wire::Result* r = result->as<wire::Result>();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->task_id(), 9u);
  EXPECT_EQ(
      to_json(flexbuffers::GetRoot(reinterpret_cast<const std::uint8_t*>(value_of(*r).data()), value_of(*r).size())),
      "{\"pi\": 3.14}");
  auto failure = decode_frame(frames.bytes().subspan(first.size));
  ASSERT_TRUE(failure);
  const wire::Failure* f = failure->as<wire::Failure>();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->task_id(), 10u);
  EXPECT_EQ(from_wire(f->kind()), FailureKind::bad_arguments);
  EXPECT_EQ(f->message()->str(), "argument 1 ...");
  EXPECT_EQ(f->task()->str(), "f");
}

TEST(FrameCodecTest, ControlMessagesRoundTrip) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.ping(out, 41));
  ASSERT_FALSE(encoder.pong(out, 42));
  ASSERT_FALSE(encoder.cancel(out, 43));
  ASSERT_FALSE(encoder.end_server(out, "maintenance"));
  std::vector<std::byte> library(3000, std::byte{0x7f});
  ASSERT_FALSE(encoder.module_transfer(out, {.transfer_id = 5, .name = "libx.so", .sha256 = std::string(64, 'a'),
                                             .bytes = library}));
  std::vector<std::string> tasks{"t1", "t2"};
  ASSERT_FALSE(encoder.module_ack(out, {.transfer_id = 5, .accepted = true, .already_loaded = true,
                                        .sha256 = std::string(64, 'a'), .module_name = "x", .tasks = tasks}));
  Aligned all(out);
  std::vector<wire::Message> types;
  ConstBytes rest = all.bytes();
  while (!rest.empty()) {
    FrameSplit s = split_frame(rest);
    ASSERT_EQ(s.status, SplitStatus::frame);
    auto view = decode_frame(rest.first(s.size));
    ASSERT_TRUE(view) << view.error().message();
    types.push_back(view->type());
    switch (view->type()) {
      case wire::Message::Ping: EXPECT_EQ(view->as<wire::Ping>()->nonce(), 41u); break;
      case wire::Message::Pong: EXPECT_EQ(view->as<wire::Pong>()->nonce(), 42u); break;
      case wire::Message::Cancel: EXPECT_EQ(view->as<wire::Cancel>()->task_id(), 43u); break;
      case wire::Message::EndServer: EXPECT_EQ(view->as<wire::EndServer>()->reason()->str(), "maintenance"); break;
      case wire::Message::ModuleTransfer: {
        const auto* t = view->as<wire::ModuleTransfer>();
        EXPECT_EQ(t->transfer_id(), 5u);
        EXPECT_EQ(t->name()->str(), "libx.so");
        EXPECT_EQ(t->sha256()->str(), std::string(64, 'a'));
        ConstBytes b = bytes_of(*t);
        EXPECT_TRUE(std::equal(b.begin(), b.end(), library.begin(), library.end()));
        break;
      }
      case wire::Message::ModuleAck: {
        const auto* a = view->as<wire::ModuleAck>();
        EXPECT_TRUE(a->accepted());
        EXPECT_TRUE(a->already_loaded());
        EXPECT_EQ(a->module_name()->str(), "x");
        ASSERT_EQ(a->tasks()->size(), 2u);
        EXPECT_EQ(a->tasks()->Get(1)->str(), "t2");
        EXPECT_EQ(from_wire(a->kind()), FailureKind::server_error) << "none on the wire reads as no failure kind";
        break;
      }
      default: ADD_FAILURE() << "unexpected type";
    }
    rest = rest.subspan(s.size);
  }
  EXPECT_EQ(types, (std::vector<wire::Message>{wire::Message::Ping, wire::Message::Pong, wire::Message::Cancel,
                                               wire::Message::EndServer, wire::Message::ModuleTransfer,
                                               wire::Message::ModuleAck}));
}

TEST(FrameCodecTest, EveryFrameIsAMultipleOfEightAndStartsWithItsLength) {
  FrameEncoder encoder;
  for (std::size_t n = 0; n < 40; ++n) {
    std::vector<std::byte> out;
    ASSERT_FALSE(encoder.failure(out, {.task_id = n, .kind = FailureKind::task_error, .message = std::string(n, 'm')}));
    EXPECT_EQ(out.size() % 8, 0u) << n;
    std::uint32_t length = 0;
    std::memcpy(&length, out.data(), 4);
    EXPECT_EQ(length + 4, out.size());
  }
}

TEST(FrameCodecTest, ManyFramesInOneBuffer) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto args = args_of_values({3, 4});
  constexpr int kFrames = 1000;
  for (int i = 0; i < kFrames; ++i)
    ASSERT_FALSE(
        encoder.submit(out, {.task_id = static_cast<std::uint64_t>(i), .task = "add", .args = as_const_bytes(args)}));
  Aligned all(out);
  ConstBytes rest = all.bytes();
  int seen = 0;
  while (!rest.empty()) {
    FrameSplit s = split_frame(rest);
    ASSERT_EQ(s.status, SplitStatus::frame);
    auto view = decode_frame(rest.first(s.size));
    ASSERT_TRUE(view) << "frame " << seen << ": " << view.error().message();
    EXPECT_EQ(view->as<wire::Submit>()->task_id(), static_cast<std::uint64_t>(seen));
    rest = rest.subspan(s.size);
    ++seen;
  }
  EXPECT_EQ(seen, kFrames);
}

TEST(FrameCodecTest, SplitWaitsForTheWholeFrame) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.ping(out, 1));
  for (std::size_t cut = 0; cut < out.size(); ++cut) {
    FrameSplit s = split_frame(ConstBytes(out).first(cut));
    EXPECT_EQ(s.status, SplitStatus::need_more) << cut;
    EXPECT_EQ(s.size, cut < 4 ? 4 : out.size()) << "how much it needs in all, once it knows";
  }
  EXPECT_EQ(split_frame(out).status, SplitStatus::frame);
}

TEST(FrameCodecTest, SplitRefusesEmptyAndOversizedFramesFromTheirPrefix) {
  std::byte zero[4] = {};
  FrameSplit empty = split_frame(zero);
  EXPECT_EQ(empty.status, SplitStatus::error);
  EXPECT_EQ(empty.error, FarmErrc::frame_empty);
  std::uint32_t huge = 64u << 20;  // with its prefix one past the default maximum
  std::byte prefix[4];
  std::memcpy(prefix, &huge, 4);
  FrameSplit big = split_frame(prefix);
  EXPECT_EQ(big.status, SplitStatus::error) << "refused before its bytes arrive";
  EXPECT_EQ(big.error, FarmErrc::frame_too_large);
  EXPECT_EQ(big.error, std::errc::message_size);
  FrameLimits small;
  small.max_frame_size = 64;
  std::uint32_t sixty = 60;
  std::memcpy(prefix, &sixty, 4);
  EXPECT_EQ(split_frame(prefix, small).status, SplitStatus::need_more) << "exactly the maximum is fine";
  std::uint32_t sixty_one = 61;
  std::memcpy(prefix, &sixty_one, 4);
  EXPECT_EQ(split_frame(prefix, small).error, FarmErrc::frame_too_large);
}

TEST(FrameCodecTest, DecodeRefusesGarbage) {
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::byte> junk(4 + random() % 200);
    for (auto& b : junk) b = static_cast<std::byte>(random());
    std::uint32_t length = static_cast<std::uint32_t>(junk.size() - 4);
    std::memcpy(junk.data(), &length, 4);  // a consistent prefix: the rest must still fail verification
    Aligned frame(junk);
    auto view = decode_aligned(frame);
    EXPECT_FALSE(view) << "random bytes verified as a frame";
  }
}

TEST(FrameCodecTest, DecodeRefusesTruncatedFrames) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto args = args_of_values({1, 2});
  ASSERT_FALSE(encoder.submit(out, {.task_id = 1, .task = "add", .args = as_const_bytes(args)}));
  for (std::size_t cut = 0; cut < out.size(); ++cut) {
    Aligned frame(ConstBytes(out).first(cut));
    EXPECT_EQ(decode_aligned(frame).error(), FarmErrc::frame_unverifiable) << cut;
  }
  // A frame whose prefix claims less than it has is refused as well.
  std::vector<std::byte> longer = out;
  longer.resize(out.size() + 8);
  Aligned padded(longer);
  EXPECT_EQ(decode_aligned(padded).error(), FarmErrc::frame_unverifiable);
}

TEST(FrameCodecTest, DecodeRefusesAnotherFileIdentifier) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.ping(out, 1));
  Aligned frame(out);
  std::memcpy(frame.data() + 8, "XXXX", 4);  // [length][root offset][identifier]
  EXPECT_EQ(decode_aligned(frame).error(), FarmErrc::frame_unverifiable);
}

TEST(FrameCodecTest, DecodeRefusesAFrameWithoutAMessage) {
  flatbuffers::FlatBufferBuilder b;
  b.TrackMinAlign(8);
  b.FinishSizePrefixed(wire::CreateFrame(b), wire::FrameIdentifier());
  Aligned frame({reinterpret_cast<const std::byte*>(b.GetBufferPointer()), b.GetSize()});
  EXPECT_EQ(decode_aligned(frame).error(), FarmErrc::unknown_message);
}

TEST(FrameCodecTest, DecodeRefusesAnUnknownMessageType) {
  // A newer peer's message type (the verifier lets unknown union members through): this build cannot use it.
  flatbuffers::FlatBufferBuilder b;
  b.TrackMinAlign(8);
  auto ping = wire::CreatePing(b, 1);
  b.FinishSizePrefixed(wire::CreateFrame(b, static_cast<wire::Message>(200), ping.Union()), wire::FrameIdentifier());
  Aligned frame({reinterpret_cast<const std::byte*>(b.GetBufferPointer()), b.GetSize()});
  EXPECT_EQ(decode_aligned(frame).error(), FarmErrc::unknown_message);
}

TEST(FrameCodecTest, DecodeRefusesASubmitWithoutItsRequiredTaskName) {
  // Built by hand as a careless peer would: SubmitBuilder itself asserts that the required field is there.
  flatbuffers::FlatBufferBuilder b;
  b.TrackMinAlign(8);
  auto start = b.StartTable();
  b.AddElement<std::uint64_t>(wire::Submit::VT_TASK_ID, 1, 0);
  flatbuffers::Offset<wire::Submit> submit(b.EndTable(start));  // no task: the schema says required
  b.FinishSizePrefixed(wire::CreateFrame(b, wire::Message::Submit, submit.Union()), wire::FrameIdentifier());
  Aligned frame({reinterpret_cast<const std::byte*>(b.GetBufferPointer()), b.GetSize()});
  EXPECT_EQ(decode_aligned(frame).error(), FarmErrc::frame_unverifiable);
}

std::vector<std::uint8_t> nested_args(int depth) {
  flexbuffers::Builder b;
  std::vector<std::size_t> starts;
  for (int i = 0; i < depth; ++i) starts.push_back(b.StartVector());
  for (int i = depth - 1; i >= 0; --i) b.EndVector(starts[i], false, false);
  b.Finish();
  return b.GetBuffer();
}

TEST(FrameCodecTest, DecodeRefusesArgumentsNestedTooDeep) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  auto deep = nested_args(33);
  ASSERT_FALSE(encoder.submit(out, {.task_id = 1, .task = "echo", .args = as_const_bytes(deep)}));
  Aligned frame(out);
  EXPECT_EQ(decode_aligned(frame).error(), FarmErrc::value_too_deep);
  FrameLimits lenient;
  lenient.values.max_depth = 40;
  EXPECT_TRUE(decode_aligned(frame, lenient)) << "the limit is configurable";
}

TEST(FrameCodecTest, DecodeRefusesArgumentsThatAreNotAFlexBuffer) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  std::vector<std::uint8_t> junk{0xde, 0xad, 0xbe, 0xef, 0x00, 0x77, 0x09};
  ASSERT_FALSE(encoder.submit(out, {.task_id = 1, .task = "echo", .args = as_const_bytes(junk)}));
  Aligned frame(out);
  EXPECT_EQ(decode_aligned(frame).error(), FarmErrc::value_malformed);
  std::vector<std::byte> result_out;
  ASSERT_FALSE(encoder.result(result_out, 1, as_const_bytes(junk)));
  Aligned result(result_out);
  EXPECT_EQ(decode_aligned(result).error(), FarmErrc::value_malformed) << "results are verified as well";
}

TEST(FrameCodecTest, DecodeRefusesMisalignedFrames) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.ping(out, 1));
  std::vector<std::uint64_t> storage(out.size() / 8 + 2);
  auto* shifted = reinterpret_cast<std::byte*>(storage.data()) + 4;
  std::memcpy(shifted, out.data(), out.size());
  EXPECT_EQ(decode_frame({shifted, out.size()}).error(), FarmErrc::frame_misaligned);
}

TEST(FrameCodecTest, EncodingRefusesAFrameOverTheMaximum) {
  FrameEncoder encoder(1024);
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.ping(out, 1));
  std::size_t before = out.size();
  std::vector<std::uint8_t> value = encode_value(std::string(2000, 'v'));
  EXPECT_EQ(encoder.result(out, 1, as_const_bytes(value)), FarmErrc::frame_too_large);
  std::vector<std::uint8_t> fits = encode_value(std::string(900, 'v'));
  std::error_code ec = encoder.result(out, 1, as_const_bytes(fits));
  EXPECT_TRUE(!ec || ec == FarmErrc::frame_too_large);
  if (ec) {
    EXPECT_EQ(out.size(), before) << "a refused frame leaves the buffer as it was";
  }
  std::vector<std::uint8_t> small = encode_value(std::string(100, 'v'));
  EXPECT_FALSE(encoder.result(out, 2, as_const_bytes(small)));
}

TEST(FrameCodecTest, AFailureMessageIsCutNotLost) {
  FrameEncoder encoder(1024);
  std::vector<std::byte> out;
  ASSERT_FALSE(
      encoder.failure(out, {.task_id = 3, .kind = FailureKind::task_error, .message = std::string(5000, 'e')}));
  Aligned frame(out);
  auto view = decode_aligned(frame, {.max_frame_size = 1024});
  ASSERT_TRUE(view);
  EXPECT_EQ(view->as<wire::Failure>()->message()->size(), 512u);
  // Cut at a character boundary: 511 bytes of 'e' and then two-byte characters would split one at 512.
  std::vector<std::byte> utf8_out;
  ASSERT_FALSE(encoder.failure(utf8_out, {.task_id = 4, .kind = FailureKind::task_error,
                                          .message = std::string(511, 'e') + "\xc3\xa9\xc3\xa9"}));
  Aligned utf8_frame(utf8_out);
  auto utf8 = decode_aligned(utf8_frame, {.max_frame_size = 1024});
  ASSERT_TRUE(utf8);
  EXPECT_EQ(utf8->as<wire::Failure>()->message()->str(), std::string(511, 'e'));
}

TEST(FrameCodecTest, FailureKindsMatchTheWire) {
  for (int k = 1; k <= 9; ++k) EXPECT_EQ(static_cast<int>(to_wire(static_cast<FailureKind>(k))), k);
  EXPECT_EQ(from_wire(wire::FailureKind::overloaded), FailureKind::overloaded);
  EXPECT_EQ(from_wire(static_cast<wire::FailureKind>(77)), FailureKind::server_error) << "a newer peer's kind";
  EXPECT_EQ(std::string(wire::EnumNameFailureKind(wire::FailureKind::task_error)), to_string(FailureKind::task_error));
}

}  // namespace
}  // namespace rfarm::farm

// The handshake as decisions: another protocol version is refused with a reason saying both versions, a token is
// checked when the server wants one, and features are the intersection.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "farm/protocol/frame_codec.hpp"
#include "farm/protocol/handshake.hpp"

namespace rfarm::farm {
namespace {

// Encodes a Hello and keeps its decoded view alive.
class EncodedHello {
 public:
  explicit EncodedHello(const HelloFields& fields) {
    FrameEncoder encoder;
    std::vector<std::byte> out;
    EXPECT_FALSE(encoder.hello(out, fields));
    words_.resize(out.size() / 8 + 1);
    std::memcpy(words_.data(), out.data(), out.size());
    auto view = decode_frame({reinterpret_cast<const std::byte*>(words_.data()), out.size()});
    EXPECT_TRUE(view);
    hello_ = view->as<wire::Hello>();
  }
  const wire::Hello& operator*() const { return *hello_; }

 private:
  std::vector<std::uint64_t> words_;
  const wire::Hello* hello_ = nullptr;
};

TEST(HandshakeTest, AcceptsTheSameVersionAndGrantsTheCommonFeatures) {
  EncodedHello hello(
      {.features = feature_bit(wire::Feature::modules) | feature_bit(wire::Feature::cancel) | (1ull << 40)});
  HandshakeDecision d =
      answer_hello(*hello, {.features = feature_bit(wire::Feature::cancel) | feature_bit(wire::Feature::deadlines)});
  EXPECT_TRUE(d.accepted);
  EXPECT_EQ(d.features, feature_bit(wire::Feature::cancel)) << "unknown and unsupported bits are not granted";
}

TEST(HandshakeTest, RefusesAnotherVersionSayingBoth) {
  EncodedHello hello({.protocol_version = 2});
  HandshakeDecision d = answer_hello(*hello, {});
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, "protocol version 2 is not supported; this server speaks version 1");
  EXPECT_EQ(d.features, 0u);
}

TEST(HandshakeTest, ChecksTheTokenWhenTheServerWantsOne) {
  ServerHandshake server{.required_auth_token = "correct horse"};
  HandshakeDecision none = answer_hello(*EncodedHello({}), server);
  EXPECT_FALSE(none.accepted);
  EXPECT_EQ(none.reason, "authentication required: this server needs a token");
  HandshakeDecision wrong = answer_hello(*EncodedHello({.auth_token = "correct horsf"}), server);
  EXPECT_FALSE(wrong.accepted);
  EXPECT_EQ(wrong.reason, "authentication failed: wrong token");
  EXPECT_FALSE(answer_hello(*EncodedHello({.auth_token = "correct"}), server).accepted) << "a prefix is not the token";
  EXPECT_TRUE(answer_hello(*EncodedHello({.auth_token = "correct horse"}), server).accepted);
  EXPECT_TRUE(answer_hello(*EncodedHello({.auth_token = "anything"}), {}).accepted) << "no token wanted";
}

TEST(HandshakeTest, TheClientReadsTheWelcome) {
  FrameEncoder encoder;
  std::vector<std::byte> out;
  ASSERT_FALSE(encoder.welcome(out, {.accepted = false, .reason = "protocol version 2 is not supported"}));
  ASSERT_FALSE(encoder.welcome(out, {.accepted = true, .features = 5}));
  std::vector<std::uint64_t> words(out.size() / 8 + 1);
  std::memcpy(words.data(), out.data(), out.size());
  ConstBytes all{reinterpret_cast<const std::byte*>(words.data()), out.size()};
  FrameSplit first = split_frame(all);
  auto refused = decode_frame(all.first(first.size));
  ASSERT_TRUE(refused);
  auto r = check_welcome(*refused->as<wire::Welcome>());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, FarmErrc::handshake_refused);
  EXPECT_EQ(r.error().message, "the server refused the connection: protocol version 2 is not supported");
  auto accepted = decode_frame(all.subspan(first.size));
  ASSERT_TRUE(accepted);
  auto a = check_welcome(*accepted->as<wire::Welcome>());
  ASSERT_TRUE(a);
  EXPECT_EQ(*a, 5u);
}

}  // namespace
}  // namespace rfarm::farm

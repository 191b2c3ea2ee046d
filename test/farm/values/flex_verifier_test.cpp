// verify_flexbuffer accepts what builders write and refuses, quickly, what a hostile peer could send: structure
// out of bounds, nesting past the limit, shared references that expand, misaligned scalars. Whatever it accepts
// can be walked by every reader without crashing (checked here on many mutated buffers).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

std::error_code verify(const std::vector<std::uint8_t>& bytes, const FlexLimits& limits = {}) {
  return verify_flexbuffer(as_const_bytes(bytes), limits);
}

std::vector<std::uint8_t> sample_buffer() {
  flexbuffers::Builder b;
  b.Map([&] {
    b.Int("int", -123456789012);
    b.UInt("uint", 18446744073709551615ull);
    b.Double("pi", 3.141592653589793);
    b.Bool("yes", true);
    b.Null("nothing");
    b.String("text", "hello world");
    b.Key("blob");
    b.Blob("\x01\x02\x03", 3);
    b.Vector("mixed", [&] {
      b.Int(1);
      b.String("two");
      b.Map([&] { b.Double("three", 3.0); });
    });
    std::vector<std::int64_t> ints{1, 2, 300000};
    b.Key("ints");
    b.Vector(ints.data(), ints.size());
    b.Key("fixed");
    b.FixedTypedVector(ints.data(), 3);
  });
  b.Finish();
  return b.GetBuffer();
}

TEST(FlexVerifierTest, AcceptsWhatBuildersWrite) {
  EXPECT_FALSE(verify(sample_buffer()));
  EXPECT_FALSE(verify(encode_value(std::int64_t{5})));
  EXPECT_FALSE(verify(encode_value(std::string())));
  EXPECT_FALSE(verify(encode_value(std::vector<int>{})));
  EXPECT_FALSE(verify(encode_value(std::map<std::string, int>{})));
  EXPECT_FALSE(verify(encode_value(std::vector<std::byte>(1 << 20))));
}

// A map {"k1": 1, "k2": 2, "k3": 3} with the bytes of key `from` overwritten by `to` (same length): the builder
// sorted the key vector by the old names, so the new ones may be out of order or repeated.
std::vector<std::uint8_t> map_with_key_renamed(std::string_view from, std::string_view to) {
  flexbuffers::Builder b;
  b.Map([&] {
    b.Int("k1", 1);
    b.Int("k2", 2);
    b.Int("k3", 3);
  });
  b.Finish();
  std::vector<std::uint8_t> bytes = b.GetBuffer();
  std::string key(from);
  key.push_back('\0');
  auto at = std::search(bytes.begin(), bytes.end(), key.begin(), key.end());
  EXPECT_NE(at, bytes.end());
  std::copy(to.begin(), to.end(), at);
  return bytes;
}

// Readers look fields up by binary search (find_field), so a map whose keys are unsorted or repeated would make
// a present field read as missing, or pick one of two values: the verifier refuses both, with their own error.
TEST(FlexVerifierTest, RefusesMapKeysUnsortedOrRepeated) {
  EXPECT_FALSE(verify(map_with_key_renamed("k1", "k0"))) << "still ascending: fine";
  const auto unsorted = map_with_key_renamed("k1", "k9");  // k9, k2, k3
  EXPECT_EQ(verify(unsorted), FarmErrc::value_keys_unordered);
  EXPECT_EQ(verify(unsorted), std::errc::bad_message);
  EXPECT_NE(make_error_code(FarmErrc::value_keys_unordered).message().find("ascending"), std::string::npos);
  // What went wrong before: the binary search misses k9 although the map holds it.
  auto map = flexbuffers::GetRoot(unsorted.data(), unsorted.size()).AsMap();
  EXPECT_FALSE(find_field(map, "k9").has_value());
  const auto repeated = map_with_key_renamed("k2", "k3");  // k1, k3, k3
  EXPECT_EQ(verify(repeated), FarmErrc::value_keys_unordered);
  // A conversion refuses it too, with the reason.
  auto decoded = decode_value<std::map<std::string, std::int64_t>>(as_const_bytes(repeated));
  ASSERT_FALSE(decoded);
  EXPECT_NE(decoded.error().message().find("ascending"), std::string::npos) << decoded.error().message();
}

TEST(FlexVerifierTest, RefusesBuffersTooShortToHoldARoot) {
  EXPECT_EQ(verify({}), FarmErrc::value_malformed);
  EXPECT_EQ(verify({0x00}), FarmErrc::value_malformed);
  EXPECT_EQ(verify({0x00, 0x04}), FarmErrc::value_malformed);
  EXPECT_EQ(verify({0x00, 0x04, 0x03}), FarmErrc::value_malformed) << "root width 3 is no width";
  EXPECT_EQ(verify({0x00, 0x04, 0x08}), FarmErrc::value_malformed) << "root of 8 bytes in a 3-byte buffer";
}

TEST(FlexVerifierTest, RefusesAnUnterminatedString) {
  std::vector<std::uint8_t> bytes = encode_value(std::string("hello"));
  auto at = std::search(bytes.begin(), bytes.end(), std::begin("hello"), std::end("hello") - 1);
  ASSERT_NE(at, bytes.end());
  ASSERT_EQ(at[5], 0);
  at[5] = 'x';
  EXPECT_EQ(verify(bytes), FarmErrc::value_malformed);
}

TEST(FlexVerifierTest, RefusesAnOffsetBeforeTheBuffer) {
  std::vector<std::uint8_t> bytes = encode_value(std::string("hello"));
  // The root slot (width 1) holds the offset back to the string: point it far before the start.
  bytes[bytes.size() - 3] = 0xFF;
  EXPECT_EQ(verify(bytes), FarmErrc::value_malformed);
}

// Found by the flex_values fuzz target: a string whose 8-byte size field is 2^64 - 1. The size plus its
// terminator wrapped to 0, so the bounds check passed and the terminator was looked for at data[-1] (undefined
// pointer arithmetic; that byte is the size field's own 0xFF, so the string was still refused). g++'s UBSan does
// not flag the arithmetic; clang's does, and the input is also in test/fuzz/corpus/flex_values/, which CI's
// fuzz step replays under clang on every run.
TEST(FlexVerifierTest, RefusesAStringWhoseSizePlusTerminatorWraps) {
  const std::vector<std::uint8_t> input{
      0x68, 0x68, 0x13, 0x13, 0x13, 0x00, 0x01, 0x14, 0xf4, 0xd5, 0xff, 0xff, 0xff, 0xff, 0x07, 0x08,
      0x13, 0x13, 0x13, 0x13, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68,
      0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x68, 0x13, 0x13, 0x68, 0x68, 0x68, 0x68, 0x68,
      0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x3f, 0x68,
      0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x13,
      0x13, 0x13, 0x13, 0x13, 0x13, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0x30, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0x03, 0x01, 0x13, 0x00, 0xd4, 0x13, 0x00, 0x00, 0x55, 0x13, 0x13, 0x13, 0x13,
      0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x13, 0x68, 0x68, 0x68, 0x68, 0x3f,
      0x68, 0x68, 0x1e, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68, 0x68,
      0x68, 0x13, 0x17, 0x13, 0x13, 0x13, 0x00, 0x00, 0x00, 0x11, 0x02, 0x00, 0x00, 0x20, 0x00, 0x30,
      0x28, 0x01,
  };
  std::vector<std::uint64_t> aligned(input.size() / 8 + 1);  // frames hand the verifier 8-byte aligned values
  std::memcpy(aligned.data(), input.data(), input.size());
  EXPECT_EQ(verify_flexbuffer(ConstBytes(reinterpret_cast<const std::byte*>(aligned.data()), input.size())),
            FarmErrc::value_malformed);
}

TEST(FlexVerifierTest, RefusesTheDeprecatedTypedStringVector) {
  flexbuffers::Builder b;
  std::size_t start = b.StartVector();
  b.String("a");
  b.String("b");
  b.EndVector(start, true, false);
  b.Finish();
  EXPECT_EQ(flexbuffers::GetRoot(b.GetBuffer()).GetType(), flexbuffers::FBT_VECTOR_STRING_DEPRECATED);
  EXPECT_EQ(verify(b.GetBuffer()), FarmErrc::value_malformed);
}

std::vector<std::uint8_t> nested_vectors(int depth) {
  flexbuffers::Builder b;
  std::vector<std::size_t> starts;
  for (int i = 0; i < depth; ++i) starts.push_back(b.StartVector());
  b.Int(1);
  for (int i = depth - 1; i >= 0; --i) b.EndVector(starts[i], false, false);
  b.Finish();
  return b.GetBuffer();
}

TEST(FlexVerifierTest, BoundsNesting) {
  EXPECT_FALSE(verify(nested_vectors(32)));
  EXPECT_EQ(verify(nested_vectors(33)), FarmErrc::value_too_deep);
  EXPECT_EQ(verify(nested_vectors(1000)), FarmErrc::value_too_deep);
  FlexLimits shallow;
  shallow.max_depth = 3;
  EXPECT_FALSE(verify(nested_vectors(3), shallow));
  EXPECT_EQ(verify(nested_vectors(4), shallow), FarmErrc::value_too_deep);
}

TEST(FlexVerifierTest, MapsAndKeyVectorsCountAsNesting) {
  flexbuffers::Builder b;
  b.Map([&] { b.Map("inner", [&] { b.Vector("v", [&] { b.Int(1); }); }); });
  b.Finish();
  FlexLimits limits;
  limits.max_depth = 3;
  EXPECT_FALSE(verify(b.GetBuffer(), limits));
  limits.max_depth = 2;
  EXPECT_EQ(verify(b.GetBuffer(), limits), FarmErrc::value_too_deep);
}

// A vector of n references to one vector of n integers: n^2 elements behind a buffer of ~7n bytes. flatbuffers'
// own verifier takes 10 s on n = 40000; this one must refuse it at once.
std::vector<std::uint8_t> quadratic_bomb(std::size_t n) {
  flexbuffers::Builder b;
  std::size_t outer = b.StartVector();
  std::size_t inner = b.StartVector();
  for (std::size_t i = 0; i < n; ++i) b.Int(1000);
  b.EndVector(inner, false, false);
  flexbuffers::Builder::Value shared = b.LastValue();
  for (std::size_t i = 1; i < n; ++i) b.ReuseValue(shared);
  b.EndVector(outer, false, false);
  b.Finish();
  return b.GetBuffer();
}

TEST(FlexVerifierTest, RefusesSharedReferencesThatExpand) {
  std::vector<std::uint8_t> bomb = quadratic_bomb(40000);
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(verify(bomb), FarmErrc::value_too_expansive);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(500))
      << "linear in the buffer, not in what it expands to (flatbuffers: 10 s)";
}

TEST(FlexVerifierTest, AcceptsSharedKeysEvenLongOnes) {
  // Builders share keys: 1000 small records with a 40-byte key are a few bytes each, and fine.
  std::vector<std::map<std::string, int>> records(1000);
  for (int i = 0; i < 1000; ++i) records[i]["a_rather_long_key_that_every_record_shares"] = i;
  EXPECT_FALSE(verify(encode_value(records)));
}

TEST(FlexVerifierTest, RefusesScalarsMisalignedInMemory) {
  std::vector<std::uint8_t> bytes = encode_value(std::vector<std::int64_t>{1ll << 40, 2});
  // The same bytes one byte off an 8-byte boundary: every 8-byte element is now misaligned.
  std::vector<std::uint64_t> storage(bytes.size() / 8 + 2);
  auto* shifted = reinterpret_cast<std::uint8_t*>(storage.data()) + 1;
  std::memcpy(shifted, bytes.data(), bytes.size());
  EXPECT_EQ(verify_flexbuffer({reinterpret_cast<const std::byte*>(shifted), bytes.size()}), FarmErrc::value_misaligned);
  auto* aligned = reinterpret_cast<std::uint8_t*>(storage.data());
  std::memcpy(aligned, bytes.data(), bytes.size());
  EXPECT_FALSE(verify_flexbuffer({reinterpret_cast<const std::byte*>(aligned), bytes.size()}));
}

// Whatever passes must be safe for every reader to walk.
void walk_everything(const std::vector<std::uint8_t>& bytes) {
  flexbuffers::Reference root = flexbuffers::GetRoot(bytes.data(), bytes.size());
  std::string json = to_json(root);
  flexbuffers::Builder copy;
  copy_value(copy, root);
  copy.Finish();
  EXPECT_FALSE(verify(copy.GetBuffer())) << "a copy of a valid value is valid";
  EXPECT_FALSE(json.empty());
}

TEST(FlexVerifierTest, MutatedBuffersAreRefusedOrSafeToWalk) {
  std::mt19937 random(20240601);  // fixed: the same mutations every run
  const std::vector<std::vector<std::uint8_t>> seeds{
      sample_buffer(), encode_value(std::vector<std::string>{"a", "bb", ""}),
      encode_value(std::map<std::string, std::vector<double>>{{"k", {1, 2}}, {"l", {}}}), nested_vectors(5)};
  int accepted = 0, refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::vector<std::uint8_t> bytes = seeds[round % seeds.size()];
    int flips = 1 + static_cast<int>(random() % 3);
    for (int f = 0; f < flips; ++f) bytes[random() % bytes.size()] = static_cast<std::uint8_t>(random());
    if (random() % 4 == 0) bytes.resize(random() % (bytes.size() + 1));  // and truncations
    std::vector<std::uint64_t> aligned(bytes.size() / 8 + 1);
    std::memcpy(aligned.data(), bytes.data(), bytes.size());
    ConstBytes view{reinterpret_cast<const std::byte*>(aligned.data()), bytes.size()};
    if (verify_flexbuffer(view)) {
      ++refused;
      continue;
    }
    ++accepted;
    std::vector<std::uint8_t> copy(reinterpret_cast<const std::uint8_t*>(aligned.data()),
                                   reinterpret_cast<const std::uint8_t*>(aligned.data()) + bytes.size());
    walk_everything(copy);
  }
  EXPECT_GT(refused, 1000) << "mutations must mostly be caught";
  EXPECT_GT(accepted, 100) << "and some (a changed number) are still valid values";
}

}  // namespace
}  // namespace rfarm::farm

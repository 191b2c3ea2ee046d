// Every built-in conversion survives C++ -> FlexBuffer -> C++ unchanged, edge values included.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

template <class T>
T round_trip(const T& value) {
  std::vector<std::uint8_t> bytes = encode_value(value);
  auto back = decode_value<T>(as_const_bytes(bytes));
  EXPECT_TRUE(back.has_value()) << back.error().message();
  return back ? *back : T{};
}

template <class T>
void expect_round_trip(const T& value) {
  EXPECT_EQ(round_trip(value), value);
}

TEST(ValueRoundTripTest, Bools) {
  expect_round_trip(true);
  expect_round_trip(false);
}

TEST(ValueRoundTripTest, IntegersAtTheirLimits) {
  expect_round_trip(std::numeric_limits<std::int8_t>::min());
  expect_round_trip(std::numeric_limits<std::int8_t>::max());
  expect_round_trip(std::numeric_limits<std::uint8_t>::max());
  expect_round_trip(std::numeric_limits<std::int16_t>::min());
  expect_round_trip(std::numeric_limits<std::uint16_t>::max());
  expect_round_trip(std::numeric_limits<std::int32_t>::min());
  expect_round_trip(std::numeric_limits<std::uint32_t>::max());
  expect_round_trip(std::numeric_limits<std::int64_t>::min());
  expect_round_trip(std::numeric_limits<std::int64_t>::max());
  expect_round_trip(std::numeric_limits<std::uint64_t>::max());
  expect_round_trip(0L);
  expect_round_trip(-1LL);
  expect_round_trip(static_cast<unsigned long>(1) << 63);
}

TEST(ValueRoundTripTest, FloatsIncludingNonFiniteAndSignedZero) {
  expect_round_trip(0.1);
  expect_round_trip(-1.5e300);
  expect_round_trip(std::numeric_limits<double>::denorm_min());
  expect_round_trip(std::numeric_limits<double>::infinity());
  expect_round_trip(-std::numeric_limits<double>::infinity());
  expect_round_trip(3.25f);
  expect_round_trip(std::numeric_limits<float>::max());
  EXPECT_TRUE(std::isnan(round_trip(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_TRUE(std::isnan(round_trip(std::numeric_limits<float>::quiet_NaN())));
  double negative_zero = round_trip(-0.0);
  EXPECT_EQ(negative_zero, 0.0);
  EXPECT_TRUE(std::signbit(negative_zero));
}

TEST(ValueRoundTripTest, IntegersWidenToDouble) {
  auto bytes = encode_value(std::int64_t{-42});
  auto d = decode_value<double>(as_const_bytes(bytes));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, -42.0);
  bytes = encode_value(std::numeric_limits<std::uint64_t>::max());
  auto big = decode_value<double>(as_const_bytes(bytes));
  ASSERT_TRUE(big);
  EXPECT_EQ(*big, 18446744073709551616.0) << "rounds to the nearest double";
}

TEST(ValueRoundTripTest, NarrowerIntegersReadWhatFits) {
  auto bytes = encode_value(std::uint64_t{255});
  auto small = decode_value<std::uint8_t>(as_const_bytes(bytes));
  ASSERT_TRUE(small);
  EXPECT_EQ(*small, 255);
  bytes = encode_value(std::int64_t{-128});
  auto tiny = decode_value<std::int8_t>(as_const_bytes(bytes));
  ASSERT_TRUE(tiny);
  EXPECT_EQ(*tiny, -128);
  bytes = encode_value(std::uint64_t{7});
  auto as_signed = decode_value<int>(as_const_bytes(bytes));
  ASSERT_TRUE(as_signed) << "an unsigned FlexBuffers integer that fits reads as a signed type";
  EXPECT_EQ(*as_signed, 7);
}

TEST(ValueRoundTripTest, Strings) {
  expect_round_trip(std::string());
  expect_round_trip(std::string("hello"));
  expect_round_trip(std::string("h\xc3\xa9llo \xe2\x82\xac"));
  expect_round_trip(std::string("a\0b", 3));  // length-prefixed: an inner NUL survives
  expect_round_trip(std::string(100000, 'x'));
}

TEST(ValueRoundTripTest, StringViewReadsInPlace) {
  auto bytes = encode_value(std::string("in place"));
  auto view = decode_value<std::string_view>(as_const_bytes(bytes));
  ASSERT_TRUE(view);
  EXPECT_EQ(*view, "in place");
  const auto* begin = reinterpret_cast<const char*>(bytes.data());
  EXPECT_TRUE(view->data() >= begin && view->data() < begin + bytes.size()) << "no copy: it points into the buffer";
}

TEST(ValueRoundTripTest, BlobsUpToAMebibyte) {
  std::vector<std::byte> mebibyte(1 << 20);
  for (std::size_t i = 0; i < mebibyte.size(); ++i) mebibyte[i] = static_cast<std::byte>(i * 131 + 7);
  expect_round_trip(mebibyte);
  expect_round_trip(Blob{mebibyte});
  expect_round_trip(std::vector<std::byte>());
  auto bytes = encode_value(Blob{{std::byte{1}, std::byte{2}}});
  auto view = decode_value<BlobView>(as_const_bytes(bytes));
  ASSERT_TRUE(view);
  ASSERT_EQ(view->bytes.size(), 2u);
  EXPECT_EQ(view->bytes[1], std::byte{2});
}

TEST(ValueRoundTripTest, VectorsOfEveryElementKind) {
  expect_round_trip(std::vector<std::int64_t>{});
  expect_round_trip(std::vector<std::int64_t>{std::numeric_limits<std::int64_t>::min(), 0, 1});
  expect_round_trip(std::vector<std::uint8_t>{0, 200, 255});
  expect_round_trip(std::vector<int>{-1, 2, -3});
  expect_round_trip(std::vector<double>{0.5, -2.0, 1e-300});
  expect_round_trip(std::vector<float>{0.5f, -2.0f});
  expect_round_trip(std::vector<bool>{true, false, true});
  expect_round_trip(std::vector<std::string>{"a", "", "ccc"});
  expect_round_trip(std::vector<std::vector<int>>{{}, {1}, {2, 3}});
}

TEST(ValueRoundTripTest, Maps) {
  expect_round_trip(std::map<std::string, int>{});
  expect_round_trip(std::map<std::string, int>{{"b", 2}, {"a", 1}, {"", 0}});
  expect_round_trip(std::unordered_map<std::string, std::string>{{"x", "1"}, {"y", "2"}});
  expect_round_trip(std::map<std::string, std::vector<double>>{{"v", {1.0, 2.0}}, {"w", {}}});
}

TEST(ValueRoundTripTest, OptionalNullAndMonostate) {
  expect_round_trip(std::optional<int>());
  expect_round_trip(std::optional<int>(5));
  expect_round_trip(std::optional<std::string>("s"));
  expect_round_trip(Null{});
  expect_round_trip(std::monostate{});
  expect_round_trip(std::vector<std::optional<int>>{1, std::nullopt, 3});
}

TEST(ValueRoundTripTest, PairsAndTuples) {
  expect_round_trip(std::pair<int, std::string>{1, "one"});
  expect_round_trip(std::tuple<>{});
  expect_round_trip(std::tuple<bool, std::int64_t, std::string, std::vector<double>>{true, -5, "t", {0.25}});
}

TEST(ValueRoundTripTest, DeeplyNestedMixture) {
  using Nested = std::map<std::string, std::vector<std::pair<std::optional<std::string>, std::map<std::string, int>>>>;
  Nested value{{"k", {{std::nullopt, {{"a", 1}}}, {"s", {}}}}, {"empty", {}}};
  expect_round_trip(value);
}

TEST(ValueRoundTripTest, VariantWritesItsActiveAlternative) {
  auto as_int = encode_value(std::variant<std::int64_t, double>(std::int64_t{3}));
  auto i = decode_value<std::int64_t>(as_const_bytes(as_int));
  ASSERT_TRUE(i);
  EXPECT_EQ(*i, 3);
  auto as_double = encode_value(std::variant<std::int64_t, double>(2.5));
  EXPECT_FALSE(decode_value<std::int64_t>(as_const_bytes(as_double))) << "a float is not an integer";
  auto d = decode_value<double>(as_const_bytes(as_double));
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, 2.5);
}

}  // namespace
}  // namespace rfarm::farm

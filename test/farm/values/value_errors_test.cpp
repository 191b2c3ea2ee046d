// Reading a value as the wrong type is an error that says what was expected, what came, and where: never a
// silent conversion (FlexBuffers' own AsInt64 would parse "12" or truncate 2.5).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

// The error reading `written` (encoded) as T; fails the test if the read succeeds.
template <class T, class W>
ValueError read_error(const W& written) {
  std::vector<std::uint8_t> bytes = encode_value(written);
  auto result = decode_value<T>(as_const_bytes(bytes));
  EXPECT_FALSE(result.has_value()) << "reading succeeded where it must fail";
  return result ? ValueError(FarmErrc::ok, "") : result.error();
}

template <class T, class W>
std::string read_error_text(const W& written) {
  return read_error<T>(written).message();
}

TEST(ValueErrorsTest, NoStringIsANumberAndNoNumberAString) {
  EXPECT_EQ(read_error_text<std::int64_t>(std::string("12")), "expected integer, got string");
  EXPECT_EQ(read_error_text<double>(std::string("1.5")), "expected float, got string");
  EXPECT_EQ(read_error_text<std::string>(12), "expected string, got integer");
  EXPECT_EQ(read_error<std::int64_t>(std::string("12")).code(), FarmErrc::type_mismatch);
}

TEST(ValueErrorsTest, AFloatIsNeverAnInteger) {
  EXPECT_EQ(read_error_text<int>(2.5), "expected integer, got float");
  EXPECT_EQ(read_error_text<std::int64_t>(3.0), "expected integer, got float") << "not even a whole one";
}

TEST(ValueErrorsTest, BoolIsItsOwnKind) {
  EXPECT_EQ(read_error_text<bool>(1), "expected bool, got integer");
  EXPECT_EQ(read_error_text<bool>(std::string("true")), "expected bool, got string");
  EXPECT_EQ(read_error_text<int>(true), "expected integer, got bool");
  EXPECT_EQ(read_error_text<double>(false), "expected float, got bool");
}

TEST(ValueErrorsTest, IntegersThatDoNotFitAreOutOfRange) {
  EXPECT_EQ(read_error_text<std::uint8_t>(300), "300 does not fit in uint8");
  EXPECT_EQ(read_error_text<std::uint32_t>(-1), "-1 does not fit in uint32");
  EXPECT_EQ(read_error_text<unsigned long>(std::numeric_limits<std::int64_t>::min()),
            "-9223372036854775808 does not fit in uint64");
  EXPECT_EQ(read_error_text<std::int8_t>(-129), "-129 does not fit in int8");
  EXPECT_EQ(read_error_text<std::int16_t>(40000), "40000 does not fit in int16");
  EXPECT_EQ(read_error_text<std::int64_t>(std::numeric_limits<std::uint64_t>::max()),
            "18446744073709551615 does not fit in int64");
  EXPECT_EQ(read_error<std::uint8_t>(300).code(), FarmErrc::out_of_range);
}

TEST(ValueErrorsTest, ADoubleBeyondFloatRangeIsOutOfRange) {
  EXPECT_EQ(read_error_text<float>(1e300), "1e+300 does not fit in float32");
}

TEST(ValueErrorsTest, ContainersOfTheWrongKind) {
  EXPECT_EQ(read_error_text<std::vector<int>>(std::map<std::string, int>{{"a", 1}}), "expected vector, got map");
  EXPECT_EQ((read_error_text<std::map<std::string, int>>(std::vector<int>{1})), "expected map, got vector");
  EXPECT_EQ(read_error_text<std::vector<int>>(Null{}), "expected vector, got null");
  EXPECT_EQ(read_error_text<std::vector<std::byte>>(std::string("x")), "expected blob, got string");
  EXPECT_EQ(read_error_text<std::string>(Blob{{std::byte{1}}}), "expected string, got blob");
  EXPECT_EQ(read_error_text<Null>(0), "expected null, got integer");
  EXPECT_EQ(read_error_text<std::vector<int>>(std::string("abc")), "expected vector, got string");
}

TEST(ValueErrorsTest, TuplesAndPairsNeedTheirExactSize) {
  EXPECT_EQ((read_error_text<std::pair<int, int>>(std::vector<int>{1, 2, 3})), "expected vector of 2 elements, got 3");
  EXPECT_EQ((read_error_text<std::tuple<int>>(std::vector<int>{})), "expected vector of 1 elements, got 0");
  EXPECT_EQ((read_error_text<std::pair<int, std::string>>(std::pair<int, int>{1, 2})),
            "[1]: expected string, got integer");
}

TEST(ValueErrorsTest, NestedErrorsNameThePath) {
  std::vector<std::map<std::string, std::optional<std::string>>> people{
      {{"name", "ada"}}, {{"name", "bob"}}, {{"name", "cy"}}, {{"name", std::nullopt}}};
  ValueError e = read_error<std::vector<std::map<std::string, std::string>>>(people);
  EXPECT_EQ(e.path(), "[3].name");
  EXPECT_EQ(e.detail(), "expected string, got null");
  EXPECT_EQ(e.message(), "[3].name: expected string, got null");
  EXPECT_EQ(e.describe_argument(1, "tally"), "argument 1 of 'tally' at [3].name: expected string, got null");
}

TEST(ValueErrorsTest, KeysThatAreNotIdentifiersAreQuoted) {
  std::map<std::string, std::string> m{{"odd key", "x"}};
  EXPECT_EQ((read_error_text<std::map<std::string, int>>(m)), "[\"odd key\"]: expected integer, got string");
}

TEST(ValueErrorsTest, TopLevelArgumentErrorsNameTheArgumentAndTask) {
  ValueError e = read_error<std::int64_t>(std::string("x"));
  EXPECT_EQ(e.describe_argument(2, "add"), "argument 2 of 'add': expected integer, got string");
}

TEST(ValueErrorsTest, AKeyTwiceInAReceivedMapIsAnError) {
  flexbuffers::Builder b;
  b.Map([&] {
    b.Int("a", 1);
    b.Int("a", 2);
  });
  b.Finish();
  // The builder writes both (it does not refuse a repeated key); the verifier refuses the map before any reader
  // walks it, since a binary search over repeated keys finds either value.
  auto m = decode_value<std::map<std::string, int>>(as_const_bytes(b.GetBuffer()));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code(), FarmErrc::value_keys_unordered);
  EXPECT_EQ(m.error().message(),
            "FlexBuffer map keys not in strictly ascending order (unsorted or repeated): a lookup would miss fields");
}

TEST(ValueErrorsTest, AKeyWithANulByteCannotBeWritten) {
  std::map<std::string, int> m{{std::string("a\0b", 3), 1}};
  flexbuffers::Builder b;
  EXPECT_THROW(write_value(b, m), ValueEncodeError);
}

TEST(ValueErrorsTest, ErrorsMapToPortableConditions) {
  EXPECT_EQ(make_error_code(FarmErrc::type_mismatch), std::errc::invalid_argument);
  EXPECT_EQ(make_error_code(FarmErrc::out_of_range), std::errc::result_out_of_range);
  EXPECT_EQ(make_error_code(FarmErrc::value_malformed), std::errc::bad_message);
}

}  // namespace
}  // namespace rfarm::farm

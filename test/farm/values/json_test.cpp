// JSON text of values: numbers as numbers, strings escaped, blobs as base64, and the display form the CLI uses.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

template <class T>
std::string json_of(const T& value) {
  std::vector<std::uint8_t> bytes = encode_value(value);
  return to_json(flexbuffers::GetRoot(bytes));
}

TEST(JsonTest, Scalars) {
  EXPECT_EQ(json_of(Null{}), "null");
  EXPECT_EQ(json_of(true), "true");
  EXPECT_EQ(json_of(false), "false");
  EXPECT_EQ(json_of(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(json_of(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(json_of(0), "0");
}

TEST(JsonTest, FloatsReadBackExactlyAndStayFloats) {
  EXPECT_EQ(json_of(0.1), "0.1");
  EXPECT_EQ(json_of(3.0), "3.0");
  EXPECT_EQ(json_of(-2.5), "-2.5");
  EXPECT_EQ(json_of(1e300), "1e+300");
  EXPECT_EQ(json_of(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(json_of(std::numeric_limits<double>::infinity()), "Infinity");
  EXPECT_EQ(json_of(-std::numeric_limits<double>::infinity()), "-Infinity");
}

TEST(JsonTest, StringsAreEscaped) {
  EXPECT_EQ(json_of(std::string("plain")), "\"plain\"");
  EXPECT_EQ(json_of(std::string("q\"b\\s/")), "\"q\\\"b\\\\s/\"");
  EXPECT_EQ(json_of(std::string("\b\f\n\r\t")), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(json_of(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(json_of(std::string("nul\0in", 6)), "\"nul\\u0000in\"");
}

TEST(JsonTest, Utf8PassesThroughAndInvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(json_of(std::string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")), "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  EXPECT_EQ(json_of(std::string("a\xff" "b")), "\"a\\ufffdb\"");
  EXPECT_EQ(json_of(std::string("\xc0\xaf")), "\"\\ufffd\\ufffd\"") << "overlong encoding";
  EXPECT_EQ(json_of(std::string("\xed\xa0\x80")), "\"\\ufffd\\ufffd\\ufffd\"") << "UTF-16 surrogate";
  EXPECT_EQ(json_of(std::string("\xe2\x82")), "\"\\ufffd\\ufffd\"") << "truncated sequence";
}

TEST(JsonTest, BlobsAreBase64) {
  auto blob = [](std::string_view s) {
    Blob b;
    for (char c : s) b.bytes.push_back(static_cast<std::byte>(c));
    return b;
  };
  // RFC 4648 section 10 test vectors.
  EXPECT_EQ(json_of(blob("")), "\"\"");
  EXPECT_EQ(json_of(blob("f")), "\"Zg==\"");
  EXPECT_EQ(json_of(blob("fo")), "\"Zm8=\"");
  EXPECT_EQ(json_of(blob("foo")), "\"Zm9v\"");
  EXPECT_EQ(json_of(blob("foob")), "\"Zm9vYg==\"");
  EXPECT_EQ(json_of(blob("fooba")), "\"Zm9vYmE=\"");
  EXPECT_EQ(json_of(blob("foobar")), "\"Zm9vYmFy\"");
  EXPECT_EQ(json_of(Blob{{std::byte{0xff}, std::byte{0xfe}}}), "\"//4=\"");
}

TEST(JsonTest, Containers) {
  EXPECT_EQ(json_of(std::vector<int>{}), "[]");
  EXPECT_EQ(json_of(std::vector<int>{1, -2, 3}), "[1, -2, 3]");
  EXPECT_EQ(json_of(std::map<std::string, int>{}), "{}");
  EXPECT_EQ(json_of(std::map<std::string, std::vector<std::string>>{{"b", {"x"}}, {"a", {}}}),
            "{\"a\": [], \"b\": [\"x\"]}");
  EXPECT_EQ(json_of(std::vector<std::optional<double>>{1.5, std::nullopt}), "[1.5, null]");
  EXPECT_EQ(json_of(std::map<std::string, int>{{"quo\"te", 1}}), "{\"quo\\\"te\": 1}");
}

TEST(JsonTest, DisplayTextShowsATopLevelStringAsItself) {
  std::vector<std::uint8_t> s = encode_value(std::string("line \"one\"\n"));
  EXPECT_EQ(to_display_text(flexbuffers::GetRoot(s)), "line \"one\"\n");
  std::vector<std::uint8_t> n = encode_value(42);
  EXPECT_EQ(to_display_text(flexbuffers::GetRoot(n)), "42");
  std::vector<std::uint8_t> v = encode_value(std::vector<std::string>{"a"});
  EXPECT_EQ(to_display_text(flexbuffers::GetRoot(v)), "[\"a\"]") << "strings inside stay JSON";
}

}  // namespace
}  // namespace rfarm::farm

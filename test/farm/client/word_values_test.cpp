// How a command-line word becomes a value (farm submit / farm map).
#include "farm/client/word_values.hpp"

#include <gtest/gtest.h>

#include "farm/values/json.hpp"

namespace rfarm::farm {
namespace {

std::string json_of(std::vector<std::string> words) {
  auto bytes = encode_words(words);
  if (!bytes) return "error: " + bytes.error().message;
  return to_json(flexbuffers::GetRoot(bytes->data(), bytes->size()));
}

TEST(WordValues, NumbersBoolsNullAndStrings) {
  EXPECT_EQ(json_of({"0", "-12", "+7", "18446744073709551615"}), "[0, -12, 7, 18446744073709551615]");
  EXPECT_EQ(json_of({"2.5", "1e3", "-0.5", ".5"}), "[2.5, 1000.0, -0.5, 0.5]");
  EXPECT_EQ(json_of({"true", "false", "null"}), "[true, false, null]");
  EXPECT_EQ(json_of({"hello", "12abc", "inf", "nan", "0x10", "", "1.2.3"}),
            R"(["hello", "12abc", "inf", "nan", "0x10", "", "1.2.3"])");
}

TEST(WordValues, JsonWordsForVectorsMapsAndQuotedStrings) {
  EXPECT_EQ(json_of({"[1, 2.5, \"a\"]"}), R"([[1, 2.5, "a"]])");
  EXPECT_EQ(json_of({"{\"k\": [true]}"}), R"([{"k": [true]}])");
  EXPECT_EQ(json_of({"\"42\""}), R"(["42"])");
  EXPECT_EQ(json_of({"3", "[1, 2]", "x"}), R"([3, [1, 2], "x"])");  // a JSON vector stays one argument
}

TEST(WordValues, BadJsonNamesTheArgument) {
  auto bytes = encode_words(std::vector<std::string>{"1", "[1,"});
  ASSERT_FALSE(bytes);
  EXPECT_NE(bytes.error().message.find("argument 2: bad JSON"), std::string::npos) << bytes.error().message;
}

}  // namespace
}  // namespace rfarm::farm

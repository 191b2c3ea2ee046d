// Value and Args: dynamic views for tasks that take anything, and VectorView over every vector flavour.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

TEST(ValueViewTest, KindsOfEveryValue) {
  flexbuffers::Builder b;
  b.Vector([&] {
    b.Null();
    b.Bool(true);
    b.Int(-1);
    b.UInt(1);
    b.Double(0.5);
    b.String("s");
    b.Blob("x", 1);
    b.Vector([&] {});
    b.Map([&] {});
  });
  b.Finish();
  auto args = decode_value<Args>(as_const_bytes(b.GetBuffer()));
  ASSERT_TRUE(args);
  std::vector<ValueKind> kinds;
  for (Value v : *args) kinds.push_back(v.kind());
  EXPECT_EQ(kinds, (std::vector<ValueKind>{ValueKind::null, ValueKind::boolean, ValueKind::integer, ValueKind::integer,
                                           ValueKind::floating, ValueKind::string, ValueKind::blob, ValueKind::vector,
                                           ValueKind::map}));
  EXPECT_TRUE((*args)[99].is_null()) << "past the end is null";
}

TEST(ValueViewTest, EveryVectorFlavourReadsTheSame) {
  std::vector<std::int64_t> numbers{4, 5, 6};
  flexbuffers::Builder typed;
  typed.Vector(numbers.data(), numbers.size());
  typed.Finish();
  flexbuffers::Builder fixed;
  fixed.FixedTypedVector(numbers.data(), numbers.size());
  fixed.Finish();
  flexbuffers::Builder untyped;
  untyped.Vector([&] {
    for (auto n : numbers) untyped.Int(n);
  });
  untyped.Finish();
  for (auto* b : {&typed, &fixed, &untyped}) {
    auto back = decode_value<std::vector<std::int64_t>>(as_const_bytes(b->GetBuffer()));
    ASSERT_TRUE(back) << back.error().message();
    EXPECT_EQ(*back, numbers);
  }
  EXPECT_EQ(flexbuffers::GetRoot(fixed.GetBuffer()).GetType(), flexbuffers::FBT_VECTOR_INT3);
}

TEST(ValueViewTest, MapLookupAndSize) {
  auto bytes = encode_value(std::map<std::string, int>{{"a", 1}, {"b", 2}, {"c", 3}});
  auto v = decode_value<Value>(as_const_bytes(bytes));
  ASSERT_TRUE(v);
  EXPECT_EQ(v->size(), 3u);
  ASSERT_TRUE(v->find("b"));
  EXPECT_EQ(*v->find("b")->as<int>(), 2);
  EXPECT_FALSE(v->find("zz"));
  EXPECT_FALSE(v->find(""));
}

TEST(ValueViewTest, CopyingAValueIsDeep) {
  std::map<std::string, std::vector<std::optional<std::string>>> original{{"k", {"x", std::nullopt}}, {"e", {}}};
  auto bytes = encode_value(original);
  auto v = decode_value<Value>(as_const_bytes(bytes));
  ASSERT_TRUE(v);
  auto copied = encode_value(*v);
  bytes.assign(bytes.size(), 0);  // the copy must not point into the original
  auto back = decode_value<decltype(original)>(as_const_bytes(copied));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, original);
}

TEST(ValueViewTest, ArgsWritesAsAVector) {
  flexbuffers::Builder b;
  b.Vector([&] {
    b.Int(1);
    b.String("two");
  });
  b.Finish();
  auto args = decode_value<Args>(as_const_bytes(b.GetBuffer()));
  ASSERT_TRUE(args);
  EXPECT_EQ(args->size(), 2u);
  auto echoed = encode_value(*args);
  EXPECT_EQ(to_json(flexbuffers::GetRoot(echoed)), "[1, \"two\"]");
}

TEST(ValueViewTest, ArgsOfANonVectorIsAnError) {
  auto bytes = encode_value(5);
  auto args = decode_value<Args>(as_const_bytes(bytes));
  ASSERT_FALSE(args);
  EXPECT_EQ(args.error().message(), "expected vector, got integer");
}

}  // namespace
}  // namespace rfarm::farm

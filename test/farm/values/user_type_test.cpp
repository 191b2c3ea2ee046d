// A user type joins the farm through the one customization point, ValueTraits (the example farm/README.md
// shows): as a record, with write_field and read_record.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "farm/values/values.hpp"

namespace geo {
struct Point {
  double x = 0;
  double y = 0;
  std::string label;
  friend bool operator==(const Point&, const Point&) = default;
};
}  // namespace geo

template <>
struct rfarm::farm::ValueTraits<geo::Point> {
  static void write(flexbuffers::Builder& b, const geo::Point& p) {
    b.Map([&] {
      write_field(b, "x", p.x);
      write_field(b, "y", p.y);
      write_field(b, "label", p.label);
    });
  }
  static ReadResult<geo::Point> read(flexbuffers::Reference r) {
    return read_record<geo::Point, double, double, std::string>(r, "x", "y", "label");
  }
};

namespace rfarm::farm {
namespace {

using geo::Point;

TEST(UserTypeTest, RoundTripsAsARecord) {
  Point p{1.5, -2, "home"};
  auto bytes = encode_value(p);
  auto back = decode_value<Point>(as_const_bytes(bytes));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, p);
}

TEST(UserTypeTest, ComposesWithTheBuiltInContainers) {
  std::vector<std::optional<Point>> path{Point{0, 0, "a"}, std::nullopt, Point{3, 4, "b"}};
  auto bytes = encode_value(path);
  auto back = decode_value<std::vector<std::optional<Point>>>(as_const_bytes(bytes));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, path);
}

TEST(UserTypeTest, IsAMapThatOtherLanguagesCanRead) {
  auto bytes = encode_value(Point{1, 2, "p"});
  auto as_map = decode_value<std::map<std::string, Value>>(as_const_bytes(bytes));
  ASSERT_TRUE(as_map);
  EXPECT_EQ(as_map->size(), 3u);
  EXPECT_EQ(*as_map->at("label").as<std::string>(), "p");
}

TEST(UserTypeTest, AWrongFieldNamesTheField) {
  flexbuffers::Builder b;
  b.Map([&] {
    b.Double("x", 1);
    b.String("y", "north");
    b.String("label", "l");
  });
  b.Finish();
  auto p = decode_value<Point>(as_const_bytes(b.GetBuffer()));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message(), ".y: expected float, got string");
}

TEST(UserTypeTest, AMissingFieldIsNamed) {
  flexbuffers::Builder b;
  b.Map([&] {
    b.Double("x", 1);
    b.String("label", "l");
  });
  b.Finish();
  auto p = decode_value<Point>(as_const_bytes(b.GetBuffer()));
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), FarmErrc::missing_field);
  EXPECT_EQ(p.error().message(), "missing field 'y'");
}

TEST(UserTypeTest, ExtraFieldsAreIgnoredSoRecordsCanGrow) {
  flexbuffers::Builder b;
  b.Map([&] {
    b.Double("x", 1);
    b.Double("y", 2);
    b.String("label", "l");
    b.Int("z_added_later", 9);
  });
  b.Finish();
  auto p = decode_value<Point>(as_const_bytes(b.GetBuffer()));
  ASSERT_TRUE(p) << p.error().message();
  EXPECT_EQ(*p, (Point{1, 2, "l"}));
}

TEST(UserTypeTest, OptionalFieldsMayBeMissing) {
  flexbuffers::Builder b;
  b.Map([&] { b.Int("a", 1); });
  b.Finish();
  auto fields = read_fields<int, std::optional<std::string>>(flexbuffers::GetRoot(b.GetBuffer()), "a", "note");
  ASSERT_TRUE(fields) << fields.error().message();
  EXPECT_EQ(std::get<0>(*fields), 1);
  EXPECT_FALSE(std::get<1>(*fields).has_value());
}

}  // namespace
}  // namespace rfarm::farm

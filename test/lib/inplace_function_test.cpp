// InplaceFunction: a move-only callable stored in place (no heap).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "lib/inplace_function.hpp"

namespace rfarm {
namespace {

// Counts live instances, so a test sees every construction and destruction of a captured value.
struct Tracked {
  explicit Tracked(int& live) : live(&live) { ++*this->live; }
  Tracked(Tracked&& other) noexcept : live(other.live) { ++*live; }
  Tracked(const Tracked&) = delete;
  ~Tracked() { --*live; }
  int* live;
};

TEST(InplaceFunctionTest, EmptyByDefault) {
  InplaceFunction<void()> f;
  EXPECT_FALSE(f);
  InplaceFunction<void()> g = nullptr;
  EXPECT_FALSE(g);
}

TEST(InplaceFunctionTest, CallsTheCallableWithArgumentsAndReturnsItsResult) {
  InplaceFunction<int(int, int)> add = [](int a, int b) { return a + b; };
  ASSERT_TRUE(add);
  EXPECT_EQ(add(2, 3), 5);
}

TEST(InplaceFunctionTest, CapturesByValueAreItsOwnCopy) {
  std::string text = "captured";
  InplaceFunction<std::string()> f = [text] { return text + "!"; };
  text = "changed";
  EXPECT_EQ(f(), "captured!");
}

TEST(InplaceFunctionTest, MutableStateSurvivesBetweenCalls) {
  InplaceFunction<int()> counter = [n = 0]() mutable { return ++n; };
  counter();
  counter();
  EXPECT_EQ(counter(), 3);
}

TEST(InplaceFunctionTest, MoveOnlyCapturesAreSupported) {
  auto owned = std::make_unique<int>(7);
  InplaceFunction<int()> f = [p = std::move(owned)] { return *p; };
  EXPECT_EQ(f(), 7);
}

TEST(InplaceFunctionTest, MoveTransfersTheCallableAndEmptiesTheSource) {
  int live = 0;
  InplaceFunction<int()> a = [t = Tracked(live)] { return *t.live; };
  EXPECT_EQ(live, 1);
  InplaceFunction<int()> b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  ASSERT_TRUE(b);
  EXPECT_EQ(live, 1) << "the moved-from capture must be destroyed, not leaked";
  EXPECT_EQ(b(), 1);
}

TEST(InplaceFunctionTest, MoveAssignmentDestroysThePreviousCallable) {
  int live_a = 0;
  int live_b = 0;
  InplaceFunction<void()> a = [t = Tracked(live_a)] {};
  InplaceFunction<void()> b = [t = Tracked(live_b)] {};
  a = std::move(b);
  EXPECT_EQ(live_a, 0);
  EXPECT_EQ(live_b, 1);
}

TEST(InplaceFunctionTest, SelfMoveAssignmentKeepsTheCallable) {
  int live = 0;
  InplaceFunction<void()> a = [t = Tracked(live)] {};
  auto& alias = a;
  a = std::move(alias);
  EXPECT_TRUE(a);
  EXPECT_EQ(live, 1);
}

TEST(InplaceFunctionTest, DestructionDestroysTheCaptureExactlyOnce) {
  int live = 0;
  {
    InplaceFunction<void()> f = [t = Tracked(live)] {};
    EXPECT_EQ(live, 1);
  }
  EXPECT_EQ(live, 0);
}

TEST(InplaceFunctionTest, ResetDestroysTheCallableNow) {
  auto shared = std::make_shared<int>(1);
  InplaceFunction<void()> f = [shared] {};
  EXPECT_EQ(shared.use_count(), 2);
  f.reset();
  EXPECT_FALSE(f);
  EXPECT_EQ(shared.use_count(), 1);
}

TEST(InplaceFunctionTest, ACallableOfExactlyTheCapacityFits) {
  struct Big {
    char bytes[48];
    int operator()() const { return bytes[47]; }
  };
  Big big{};
  big.bytes[47] = 9;
  InplaceFunction<int(), 48> f = big;
  EXPECT_EQ(f(), 9);
}

TEST(InplaceFunctionTest, ArgumentsAreForwardedWithoutCopies) {
  InplaceFunction<std::size_t(std::unique_ptr<int>)> f = [](std::unique_ptr<int> p) { return p ? 1u : 0u; };
  EXPECT_EQ(f(std::make_unique<int>(3)), 1u);
}

}  // namespace
}  // namespace rfarm

// The balancer: fewest tasks in flight wins, a full window is never exceeded, a connection that is not ready gets
// nothing.
#include "farm/client/balancer.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace rfarm::farm {
namespace {

TEST(Balancer, PicksTheLeastLoadedReadyConnection) {
  std::vector<ConnectionLoad> loads{{true, 5, 8}, {true, 2, 8}, {false, 0, 8}, {true, 3, 8}};
  EXPECT_EQ(pick_least_loaded(loads), 1u);
}

TEST(Balancer, NeverPastTheWindow) {
  std::vector<ConnectionLoad> loads{{true, 8, 8}, {true, 8, 8}};
  EXPECT_FALSE(pick_least_loaded(loads));
  loads[1].in_flight = 7;
  EXPECT_EQ(pick_least_loaded(loads), 1u);
}

TEST(Balancer, NothingReadyNothingPicked) {
  std::vector<ConnectionLoad> loads{{false, 0, 8}, {false, 0, 8}};
  EXPECT_FALSE(pick_least_loaded(loads));
  EXPECT_FALSE(pick_least_loaded({}));
}

TEST(Balancer, FillingSpreadsEvenlyAndASlowServerHoardsNoMoreThanItsWindow) {
  // One fast server (answers everything at once) and one slow one (answers nothing): the slow one holds a
  // window's worth, the fast one takes the rest as it frees space.
  std::vector<ConnectionLoad> loads{{true, 0, 4}, {true, 0, 4}};
  int given[2] = {0, 0};
  for (int task = 0; task < 100; ++task) {
    auto i = pick_least_loaded(loads);
    if (!i) {
      loads[0].in_flight = 0;  // the fast server answers
      i = pick_least_loaded(loads);
    }
    ASSERT_TRUE(i);
    ++loads[*i].in_flight;
    ++given[*i];
  }
  EXPECT_EQ(given[1], 4);
  EXPECT_EQ(given[0], 96);
}

}  // namespace
}  // namespace rfarm::farm

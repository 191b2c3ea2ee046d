// TaskTable: a record completes exactly once; late and duplicate answers are dropped; a lost connection's tasks go
// back in order, or fail by their own policy (not a global one).
#include "farm/client/task_record.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;

struct CountingSink : ResultSink {
  std::vector<std::uint64_t> tags;
  std::vector<RemoteResult> results;
  void complete(std::uint64_t tag, RemoteResult r) override {
    tags.push_back(tag);
    results.push_back(std::move(r));
  }
};

TaskRecord record(std::shared_ptr<ResultSink> sink, std::uint64_t tag, TaskPolicy policy = {}) {
  TaskRecord r;
  r.task = "t";
  r.sink = std::move(sink);
  r.tag = tag;
  r.policy = policy;
  return r;
}

TEST(TaskTable, AnswerCompletesOnceAndDuplicatesAreDropped) {
  auto sink = std::make_shared<CountingSink>();
  TaskTable table;
  table.add_pending(record(sink, 7));
  std::uint64_t id = table.start_next(0).id;
  EXPECT_NE(id, 0u);
  auto done = table.complete(id);
  ASSERT_TRUE(done);
  done->finish(TaskResult());
  EXPECT_FALSE(table.complete(id));  // the same answer again
  EXPECT_FALSE(table.complete(id + 100));  // never issued
  EXPECT_EQ(sink->tags, std::vector<std::uint64_t>{7});
  EXPECT_EQ(table.counters().dropped_answers, 2u);
  EXPECT_EQ(table.counters().completed, 1u);
}

TEST(TaskTable, ResubmissionGetsAFreshIdSoTheLateAnswerIsDropped) {
  auto sink = std::make_shared<CountingSink>();
  TaskTable table;
  table.add_pending(record(sink, 1));
  std::uint64_t first = table.start_next(0).id;
  EXPECT_EQ(table.requeue(0, Clock::now(), [](TaskRecord&, RemoteFailure) { FAIL(); }), 1u);
  TaskRecord& again = table.start_next(1);
  EXPECT_NE(again.id, first);
  EXPECT_EQ(again.attempts, 2u);
  std::uint64_t second = again.id;
  EXPECT_FALSE(table.complete(first));  // the frozen server's late result
  ASSERT_TRUE(table.complete(second));
  EXPECT_EQ(table.counters().resubmitted, 1u);
}

TEST(TaskTable, RequeueTouchesOnlyTheLostConnectionAndKeepsOrder) {
  auto sink = std::make_shared<CountingSink>();
  TaskTable table;
  for (std::uint64_t i = 0; i < 6; ++i) table.add_pending(record(sink, i));
  for (int i = 0; i < 6; ++i) table.start_next(static_cast<ConnectionId>(i % 2));  // 0,2,4 on 0; 1,3,5 on 1
  table.add_pending(record(sink, 99));
  EXPECT_EQ(table.requeue(0, Clock::now(), [](TaskRecord&, RemoteFailure) { FAIL(); }), 3u);
  EXPECT_EQ(table.in_flight(), 3u);
  std::vector<std::uint64_t> order;
  while (table.has_pending()) order.push_back(table.start_next(2).tag);
  EXPECT_EQ(order, (std::vector<std::uint64_t>{0, 2, 4, 99}));  // resubmitted first, in their order
}

TEST(TaskTable, PolicyFailsInsteadOfRetrying) {
  auto sink = std::make_shared<CountingSink>();
  TaskTable table;
  TaskRecord deadline = record(sink, 1);
  deadline.fail_at = Clock::now() - 1ms;
  table.add_pending(std::move(deadline));
  table.add_pending(record(sink, 2, {.max_attempts = 1}));
  table.add_pending(record(sink, 3));  // default: retry forever
  TaskRecord bcast = record(sink, 4);
  bcast.broadcast = true;
  table.start(std::move(bcast), 0);
  for (int i = 0; i < 3; ++i) table.start_next(0);
  std::vector<std::pair<std::uint64_t, FailureKind>> failed;
  auto back = table.requeue(0, Clock::now(), [&](TaskRecord& r, RemoteFailure f) {
    failed.emplace_back(r.tag, f.kind);
    r.finish(std::unexpected(f));
  });
  EXPECT_EQ(back, 1u);
  std::sort(failed.begin(), failed.end());
  ASSERT_EQ(failed.size(), 3u);
  EXPECT_EQ(failed[0], std::make_pair(std::uint64_t{1}, FailureKind::deadline_exceeded));
  EXPECT_EQ(failed[1], std::make_pair(std::uint64_t{2}, FailureKind::server_error));
  EXPECT_EQ(failed[2], std::make_pair(std::uint64_t{4}, FailureKind::server_error));
  EXPECT_EQ(table.start_next(1).tag, 3u);
}

TEST(TaskTable, ExpirePendingAndDrain) {
  auto sink = std::make_shared<CountingSink>();
  TaskTable table;
  TaskRecord late = record(sink, 1);
  late.fail_at = Clock::now() - 1ms;
  table.add_pending(std::move(late));
  table.add_pending(record(sink, 2));
  int expired = 0;
  table.expire_pending(Clock::now(), [&](TaskRecord& r, RemoteFailure f) {
    ++expired;
    EXPECT_EQ(r.tag, 1u);
    EXPECT_EQ(f.kind, FailureKind::deadline_exceeded);
  });
  EXPECT_EQ(expired, 1);
  table.start_next(0);
  table.add_pending(record(sink, 3));
  int drained = 0;
  table.drain_all([&](TaskRecord&) { ++drained; });
  EXPECT_EQ(drained, 2);
  EXPECT_EQ(table.pending() + table.in_flight(), 0u);
}

}  // namespace
}  // namespace rfarm::farm

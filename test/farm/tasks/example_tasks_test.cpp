// The example module (examples/tasks/), loaded as a server would (through ModuleStore), gives answers that can be
// checked: prime counts (pi(10^6) = 78498; pi(2*10^7) = 1,270,607 summed over 200 chunks, as the quick start
// does), word counts, Mandelbrot rows (the real axis inside the set is [-2, 1/4]), and a user type round trip.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "examples/tasks/summary.hpp"
#include "farm/tasks/module_store.hpp"
#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

class ExampleTasksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/rfarm-example-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    parent_ = tmpl;
    const char* module = std::getenv("RFARM_EXAMPLE_TASKS");
    ASSERT_TRUE(module && *module) << "RFARM_EXAMPLE_TASKS is not set: run through meson test";
    auto store = ModuleStore::open(parent_ + "/modules");
    ASSERT_TRUE(store) << store.error().message;
    store_.emplace(std::move(*store));
    auto installed = store_->install_file(registry_, module);
    ASSERT_TRUE(installed) << installed.error().message;
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(parent_);
  }

  // Calls task with args; the result as T (the test fails on a task failure).
  template <class T, class... A>
  T call(std::string_view task, const A&... args) {
    flexbuffers::Builder b;
    b.Vector([&] { (write_value(b, args), ...); });
    b.Finish();
    TaskContext context;
    TaskOutcome outcome = registry_.invoke(task, context, as_const_bytes(b.GetBuffer()), out_);
    EXPECT_TRUE(outcome.ok()) << outcome.message();
    if (!outcome.ok()) return T{};
    auto value = decode_value<T>(as_const_bytes(out_.GetBuffer()));
    EXPECT_TRUE(value) << value.error().message();
    return value ? *value : T{};
  }

  template <class... A>
  TaskOutcome outcome_of(std::string_view task, const A&... args) {
    flexbuffers::Builder b;
    b.Vector([&] { (write_value(b, args), ...); });
    b.Finish();
    TaskContext context;
    return registry_.invoke(task, context, as_const_bytes(b.GetBuffer()), out_);
  }

  std::string parent_;
  TaskRegistry registry_;
  std::optional<ModuleStore> store_;
  flexbuffers::Builder out_;
};

TEST_F(ExampleTasksTest, CountPrimesKnownValues) {
  EXPECT_EQ(call<std::int64_t>("count_primes", 0, 100), 25);
  EXPECT_EQ(call<std::int64_t>("count_primes", 100, 200), 21);
  EXPECT_EQ(call<std::int64_t>("count_primes", 0, 2), 0);
  EXPECT_EQ(call<std::int64_t>("count_primes", 2, 3), 1);
  EXPECT_EQ(call<std::int64_t>("count_primes", 0, 1000000), 78498);
  EXPECT_EQ(call<std::int64_t>("count_primes", 1000000000, 1000001000), 49) << "primes in [10^9, 10^9 + 1000)";
}

TEST_F(ExampleTasksTest, CountPrimesUpToTwentyMillionInTwoHundredChunks) {
  constexpr std::int64_t kLimit = 20'000'000, kChunks = 200;
  std::int64_t total = 0;
  for (std::int64_t i = 0; i < kChunks; ++i)
    total += call<std::int64_t>("count_primes", i * kLimit / kChunks, (i + 1) * kLimit / kChunks);
  EXPECT_EQ(total, 1'270'607);
}

TEST_F(ExampleTasksTest, CountPrimesRefusesBadRanges) {
  TaskOutcome o = outcome_of("count_primes", 10, 5);
  EXPECT_EQ(o.kind(), FailureKind::task_error);
  EXPECT_EQ(o.message(), "count_primes: need 0 <= lo <= hi <= 1000000000000, got [10, 5)");
  o = outcome_of("count_primes", std::string("0"), 5);
  EXPECT_EQ(o.kind(), FailureKind::bad_arguments);
  EXPECT_EQ(o.message(), "argument 1 of 'count_primes': expected integer, got string");
}

TEST_F(ExampleTasksTest, WordCount) {
  auto counts =
      call<std::map<std::string, std::int64_t>>("word_count", std::string("The cat and the hat. THE END! don't"));
  EXPECT_EQ(counts, (std::map<std::string, std::int64_t>{
                        {"and", 1}, {"cat", 1}, {"don't", 1}, {"end", 1}, {"hat", 1}, {"the", 3}}));
  EXPECT_TRUE((call<std::map<std::string, std::int64_t>>("word_count", std::string(" ,. "))).empty());
}

TEST_F(ExampleTasksTest, MandelbrotRows) {
  // Row 4 of 9 is the real axis: x = 0..6 (re in [-1.83, 0.17]) are inside, 0.5 escapes after 5, 0.83 after 3.
  EXPECT_EQ(call<std::vector<std::uint32_t>>("mandelbrot_row", 4, 9, 9, 1000),
            (std::vector<std::uint32_t>{1000, 1000, 1000, 1000, 1000, 1000, 1000, 5, 3}));
  EXPECT_EQ(call<std::vector<std::uint32_t>>("mandelbrot_row", 0, 9, 9, 1000),
            (std::vector<std::uint32_t>{1, 1, 2, 2, 2, 2, 2, 2, 2}));
  TaskOutcome o = outcome_of("mandelbrot_row", 9, 9, 9, 1000);
  EXPECT_EQ(o.kind(), FailureKind::task_error) << "y must be below height";
}

TEST_F(ExampleTasksTest, SummariesAreAUserTypeBothWays) {
  using example::Summary;
  EXPECT_EQ(call<Summary>("summarize", std::vector<double>{3, 1, 2}), (Summary{3, 6, 1.0, 3.0}));
  EXPECT_EQ(call<Summary>("summarize", std::vector<double>{}), (Summary{0, 0, std::nullopt, std::nullopt}));
  EXPECT_EQ(call<Summary>("summarize", std::vector<std::int64_t>{5}), (Summary{1, 5, 5.0, 5.0}))
      << "integers widen to the doubles the task takes";
  // A parallel reduce: summarize chunks, merge the summaries.
  Summary left = call<Summary>("summarize", std::vector<double>{4, -1});
  Summary right = call<Summary>("summarize", std::vector<double>{10});
  EXPECT_EQ(call<Summary>("merge_summaries", left, right), (Summary{3, 13, -1.0, 10.0}));
  EXPECT_EQ(call<Summary>("merge_summaries", Summary{}, right), right);
  EXPECT_TRUE(registry_.find("merge_summaries")->may_run_inline());
  EXPECT_EQ(to_json(flexbuffers::GetRoot(encode_value(Summary{1, 2, std::nullopt, 2.0}))),
            "{\"count\": 1, \"max\": 2.0, \"min\": null, \"sum\": 2.0}");
}

}  // namespace
}  // namespace rfarm::farm

// TaskRegistry: tasks by name in an object (no process-wide table), names checked, no silent replacement, and a
// module's table added all or nothing.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "farm/tasks/task_registry.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

std::int64_t twice(std::int64_t x) { return 2 * x; }

TEST(TaskRegistryTest, FindsWhatWasAdded) {
  TaskRegistry registry;
  ASSERT_TRUE(registry.add("twice", &twice));
  ASSERT_TRUE(registry.add("inline.neg", [](std::int64_t x) { return -x; }, TaskFlags::may_run_inline, "tests"));
  const TaskDescriptor* t = registry.find("twice");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->name, "twice");
  EXPECT_EQ(t->arity, 1);
  EXPECT_FALSE(t->may_run_inline());
  const TaskDescriptor* n = registry.find("inline.neg");
  ASSERT_NE(n, nullptr);
  EXPECT_TRUE(n->may_run_inline());
  EXPECT_EQ(n->origin, "tests");
  EXPECT_EQ(registry.find("thrice"), nullptr);
  EXPECT_EQ(registry.names(), (std::vector<std::string>{"inline.neg", "twice"}));
  EXPECT_EQ(registry.size(), 2u);
}

TEST(TaskRegistryTest, TwoRegistriesAreIndependent) {
  TaskRegistry a, b;
  ASSERT_TRUE(a.add("only_in_a", &twice));
  EXPECT_EQ(b.find("only_in_a"), nullptr);
}

TEST(TaskRegistryTest, ANameIsNeverSilentlyReplaced) {
  TaskRegistry registry;
  ASSERT_TRUE(registry.add("twice", &twice));
  auto again = registry.add("twice", [](std::int64_t x) { return x; });
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, FarmErrc::task_exists);
  EXPECT_EQ(again.error().message, "a task named 'twice' is already registered");
}

TEST(TaskRegistryTest, RefusesNamesThatCannotBePrintedPlainly) {
  TaskRegistry registry;
  for (std::string bad : {std::string(), std::string("has space"), std::string("tab\t"), std::string("nul\0x", 5),
                          std::string("caf\xc3\xa9"), std::string(129, 'x')}) {
    auto r = registry.add(bad, &twice);
    ASSERT_FALSE(r) << "accepted '" << bad << "'";
    EXPECT_EQ(r.error().code, FarmErrc::invalid_task_name);
  }
  EXPECT_TRUE(registry.add(std::string(128, 'x'), &twice));
  EXPECT_TRUE(registry.add("example.word_count:v2", &twice));
}

TEST(TaskRegistryTest, CallablesWithStateAreKept) {
  TaskRegistry registry;
  std::string prefix(100, 'p');  // heap-allocated state that must live as long as the registry
  ASSERT_TRUE(registry.add("prefix", [prefix](std::string s) { return prefix + s; }));
  prefix.clear();
  std::vector<std::uint8_t> args = encode_value(std::vector<std::string>{"!"});
  flexbuffers::Builder out;
  TaskContext context;
  TaskOutcome outcome = registry.invoke("prefix", context, as_const_bytes(args), out);
  ASSERT_TRUE(outcome.ok()) << outcome.message();
  EXPECT_EQ(*decode_value<std::string>(as_const_bytes(out.GetBuffer())), std::string(100, 'p') + "!");
}

TaskOutcome noop(const void*, TaskContext&, const Args&, flexbuffers::Builder& out) noexcept {
  out.Null();
  return TaskOutcome::success();
}

TEST(TaskRegistryTest, AddsATableAllOrNothing) {
  TaskRegistry registry;
  ASSERT_TRUE(registry.add("taken", &twice, TaskFlags::none, "builtin"));
  TaskEntry fresh{"fresh", TaskFlags::none, 0, &noop, nullptr};
  TaskEntry taken{"taken", TaskFlags::none, 0, &noop, nullptr};
  const TaskEntry* table[] = {&fresh, &taken};
  auto r = registry.add_entries(table, "module m");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, FarmErrc::name_collision);
  EXPECT_EQ(r.error().message, "module m: 'taken' is already registered (builtin)");
  EXPECT_EQ(registry.find("fresh"), nullptr) << "nothing of a refused table is registered";

  TaskEntry fresh2{"fresh", TaskFlags::none, 0, &noop, nullptr};
  const TaskEntry* duplicated[] = {&fresh, &fresh2};
  auto d = registry.add_entries(duplicated, "module d");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, FarmErrc::module_invalid);
  EXPECT_EQ(d.error().message, "module d: 'fresh' is defined twice");

  const TaskEntry* good[] = {&fresh};
  ASSERT_TRUE(registry.add_entries(good, "module g"));
  ASSERT_NE(registry.find("fresh"), nullptr);
  EXPECT_EQ(registry.find("fresh")->origin, "module g");
}

TEST(TaskRegistryTest, AnUnknownNameIsAnUnknownTaskFailure) {
  TaskRegistry registry;
  flexbuffers::Builder out;
  TaskContext context;
  TaskOutcome outcome = registry.invoke("nope", context, {}, out);
  EXPECT_EQ(outcome.kind(), FailureKind::unknown_task);
  EXPECT_EQ(outcome.message(), "no task named 'nope'");
}

}  // namespace
}  // namespace rfarm::farm

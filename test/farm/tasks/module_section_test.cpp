// RFARM_TASK gathers tasks through the ELF section "rfarm_tasks" with no code run at load time. This executable
// defines tasks in two object files (the other one, module_section_tasks.cpp, is referenced by nothing) and is
// built twice: plainly, and with -fvisibility=hidden -flto -ffunction-sections -fdata-sections -Wl,--gc-sections.
// Both builds must list all three tasks and run them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "farm/tasks/module_loader.hpp"
#include "farm/tasks/task_definition.hpp"
#include "farm/tasks/task_registry.hpp"
#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

RFARM_TASK("section.square", [](std::int64_t x) { return x * x; })

RFARM_MODULE("section_test")

namespace rfarm::farm {
namespace {

TEST(ModuleSectionTest, TheEntryPointListsTheTasksOfEveryObjectFile) {
  const rfarm_module_v1* module = rfarm_module_entry();
  ASSERT_TRUE(check_module_descriptor(module));
  EXPECT_STREQ(module->name, "section_test");
  std::vector<std::string> names;
  for (auto p = module->tasks_begin; p != module->tasks_end; ++p) names.emplace_back((*p)->name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"section.fast", "section.hello", "section.square"}));
}

TEST(ModuleSectionTest, TheTasksRunThroughARegistry) {
  const rfarm_module_v1* module = rfarm_module_entry();
  TaskRegistry registry;
  ASSERT_TRUE(registry.add_entries({module->tasks_begin, module->tasks_end}, "module section_test"));
  EXPECT_TRUE(registry.find("section.fast")->may_run_inline());
  EXPECT_FALSE(registry.find("section.square")->may_run_inline());
  flexbuffers::Builder out;
  TaskContext context;
  std::vector<std::uint8_t> seven = encode_value(std::vector<std::int64_t>{7});
  ASSERT_TRUE(registry.invoke("section.square", context, as_const_bytes(seven), out).ok());
  EXPECT_EQ(to_json(flexbuffers::GetRoot(out.GetBuffer())), "49");
  std::vector<std::uint8_t> name = encode_value(std::vector<std::string>{"farm"});
  ASSERT_TRUE(registry.invoke("section.hello", context, as_const_bytes(name), out).ok());
  EXPECT_EQ(to_json(flexbuffers::GetRoot(out.GetBuffer())), "\"hello, farm\"");
}

}  // namespace
}  // namespace rfarm::farm

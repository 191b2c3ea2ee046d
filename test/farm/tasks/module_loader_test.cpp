// LoadedModule: real shared libraries through dlopen, the good (the example module, a module built with hidden
// visibility, LTO and --gc-sections, an empty one) and the bad (no entry point, another ABI version, another
// layout, a task defined twice, an unresolved symbol, a file that is no library at all).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "../../support/temp_dir.hpp"
#include "farm/tasks/module_loader.hpp"
#include "farm/tasks/task_registry.hpp"
#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

// The path meson gave in env, or "" (the test then fails saying which variable is missing).
std::string module_path(const char* env) {
  const char* p = std::getenv(env);
  EXPECT_TRUE(p && *p) << env << " is not set: run through meson test";
  return p ? p : "";
}

std::vector<std::string> task_names(const LoadedModule& m) {
  std::vector<std::string> names;
  for (const TaskEntry* t : m.tasks()) names.emplace_back(t->name);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(ModuleLoaderTest, LoadsTheExampleModule) {
  auto m = LoadedModule::open(module_path("RFARM_EXAMPLE_TASKS"));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->name(), "example_tasks");
  EXPECT_EQ(task_names(*m),
            (std::vector<std::string>{"count_primes", "mandelbrot_row", "merge_summaries", "summarize", "word_count"}));
}

TEST(ModuleLoaderTest, LoadsAModuleBuiltWithHiddenVisibilityLtoAndGcSections) {
  auto m = LoadedModule::open(module_path("RFARM_TEST_MODULE_HARDENED"));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(task_names(*m), (std::vector<std::string>{"hardened.greet", "hardened.negate", "hardened.triple"}));
  TaskRegistry registry;
  ASSERT_TRUE(registry.add_entries(m->tasks(), "module hardened"));
  flexbuffers::Builder out;
  TaskContext context;
  auto args = encode_value(std::vector<std::int64_t>{14});
  ASSERT_TRUE(registry.invoke("hardened.triple", context, as_const_bytes(args), out).ok());
  EXPECT_EQ(to_json(flexbuffers::GetRoot(out.GetBuffer())), "42");
  EXPECT_TRUE(registry.find("hardened.greet")->may_run_inline());
}

TEST(ModuleLoaderTest, AModuleWithoutTasksLoadsEmpty) {
  auto m = LoadedModule::open(module_path("RFARM_TEST_MODULE_EMPTY"));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->name(), "empty");
  EXPECT_TRUE(m->tasks().empty());
}

TEST(ModuleLoaderTest, ALibraryWithoutTheEntryPointIsNoModule) {
  std::string path = module_path("RFARM_TEST_MODULE_NO_ENTRY");
  auto m = LoadedModule::open(path);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, FarmErrc::no_entry_point);
  EXPECT_EQ(m.error().message, path + " is not an rfarm task module: it exports no rfarm_module_entry (did its "
                                      "sources use RFARM_MODULE?)");
}

TEST(ModuleLoaderTest, AnotherAbiVersionIsRefused) {
  auto m = LoadedModule::open(module_path("RFARM_TEST_MODULE_ABI_VERSION"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, FarmErrc::abi_mismatch);
  EXPECT_NE(m.error().message.find("built for rfarm module ABI version 999; this server loads version 1"),
            std::string::npos)
      << m.error().message;
  EXPECT_EQ(m.error().code, std::errc::not_supported);
}

TEST(ModuleLoaderTest, AnotherLayoutIsRefused) {
  auto m = LoadedModule::open(module_path("RFARM_TEST_MODULE_FINGERPRINT"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, FarmErrc::abi_mismatch);
  EXPECT_NE(m.error().message.find("rebuild it against this rfarm"), std::string::npos) << m.error().message;
}

TEST(ModuleLoaderTest, ATaskDefinedTwiceIsRefused) {
  auto m = LoadedModule::open(module_path("RFARM_TEST_MODULE_DUPLICATE"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, FarmErrc::module_invalid);
  EXPECT_NE(m.error().message.find("module 'duplicates' defines the task 'twice' twice"), std::string::npos)
      << m.error().message;
}

TEST(ModuleLoaderTest, AnUnresolvedSymbolFailsAtLoadTime) {
  auto m = LoadedModule::open(module_path("RFARM_TEST_MODULE_UNRESOLVED"));
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, FarmErrc::module_open_failed);
  EXPECT_NE(m.error().message.find("rfarm_test_symbol_nobody_defines"), std::string::npos) << m.error().message;
}

TEST(ModuleLoaderTest, NotALibraryAtAll) {
  test::TempDir dir;
  ASSERT_TRUE(dir.ok());
  std::string path = dir.file("garbage.so");
  std::ofstream(path) << "this is not an ELF file";
  auto m = LoadedModule::open(path);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, FarmErrc::module_open_failed);
  auto missing = LoadedModule::open(dir.path() + "/missing.so");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, FarmErrc::module_open_failed);
}

TEST(ModuleLoaderTest, DescriptorChecks) {
  EXPECT_EQ(check_module_descriptor(nullptr).error().code, FarmErrc::module_invalid);
  rfarm_module_v1 short_one{RFARM_MODULE_ABI_VERSION, 8, module_layout_fingerprint(), "x", nullptr, nullptr};
  EXPECT_EQ(check_module_descriptor(&short_one).error().code, FarmErrc::abi_mismatch);
  rfarm_module_v1 nameless{RFARM_MODULE_ABI_VERSION, sizeof(rfarm_module_v1), module_layout_fingerprint(), "", nullptr,
                           nullptr};
  EXPECT_EQ(check_module_descriptor(&nameless).error().code, FarmErrc::module_invalid);
  const TaskEntry* table[] = {nullptr};
  rfarm_module_v1 null_entry{RFARM_MODULE_ABI_VERSION, sizeof(rfarm_module_v1), module_layout_fingerprint(), "n",
                             table, table + 1};
  EXPECT_EQ(check_module_descriptor(&null_entry).error().code, FarmErrc::module_invalid);
  rfarm_module_v1 backwards{RFARM_MODULE_ABI_VERSION, sizeof(rfarm_module_v1), module_layout_fingerprint(), "b",
                            table + 1, table};
  EXPECT_EQ(check_module_descriptor(&backwards).error().code, FarmErrc::module_invalid);
}

}  // namespace
}  // namespace rfarm::farm

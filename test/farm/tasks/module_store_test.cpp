// ModuleStore: shipped module bytes stored by content hash in a private directory and loaded once; the same bytes
// again change nothing; a module that collides with registered tasks is refused whole; unsafe directories and
// names are refused.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "farm/tasks/builtin_tasks.hpp"
#include "farm/tasks/content_hash.hpp"
#include "farm/tasks/module_store.hpp"
#include "farm/values/json.hpp"
#include "farm/values/values.hpp"

namespace rfarm::farm {
namespace {

namespace fs = std::filesystem;

std::vector<std::byte> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::vector<std::byte> bytes(static_cast<std::size_t>(std::max<std::streamoff>(in.tellg(), 0)));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EXPECT_TRUE(in) << "cannot read " << path;
  return bytes;
}

std::string env_path(const char* name) {
  const char* p = std::getenv(name);
  EXPECT_TRUE(p && *p) << name << " is not set: run through meson test";
  return p ? p : "";
}

// A fresh parent directory for a store, removed with everything in it.
class ModuleStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/rfarm-store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    parent_ = tmpl;
    store_dir_ = parent_ + "/modules";
    example_ = read_bytes(env_path("RFARM_EXAMPLE_TASKS"));
    ASSERT_FALSE(example_.empty());
    ASSERT_TRUE(register_builtin_tasks(registry_));
  }
  void TearDown() override { fs::remove_all(parent_); }

  std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename());
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string parent_;
  std::string store_dir_;
  std::vector<std::byte> example_;
  TaskRegistry registry_;
};

TEST_F(ModuleStoreTest, CreatesAPrivateDirectory) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store) << store.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(store_dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(ModuleStoreTest, InstallsStoresByHashAndRegistersTheTasks) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store) << store.error().message;
  std::string sha = sha256_hex(example_).value();
  auto got = store->install(registry_, example_, "libexample_tasks.so", sha);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(got->newly_loaded);
  EXPECT_EQ(got->info.name, "example_tasks");
  EXPECT_EQ(got->info.sha256, sha);
  EXPECT_EQ(got->info.source, "libexample_tasks.so");
  EXPECT_EQ(got->info.tasks,
            (std::vector<std::string>{"count_primes", "mandelbrot_row", "merge_summaries", "summarize", "word_count"}));
  EXPECT_EQ(files_in(store_dir_), std::vector<std::string>{sha + ".so"}) << "no temporary file left behind";
  struct stat st {};
  ASSERT_EQ(::stat((store_dir_ + "/" + sha + ".so").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(store->contains(sha));
  ASSERT_EQ(store->modules().size(), 1u);
  EXPECT_EQ(store->modules()[0], got->info);

  ASSERT_NE(registry_.find("count_primes"), nullptr);
  EXPECT_EQ(registry_.find("count_primes")->origin, "module example_tasks");
  flexbuffers::Builder out;
  TaskContext context;
  auto args = encode_value(std::vector<std::int64_t>{0, 100});
  ASSERT_TRUE(registry_.invoke("count_primes", context, as_const_bytes(args), out).ok());
  EXPECT_EQ(to_json(flexbuffers::GetRoot(out.GetBuffer())), "25");
}

TEST_F(ModuleStoreTest, TheSameBytesTwiceAreANoOp) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->install(registry_, example_, "a.so"));
  std::size_t tasks = registry_.size();
  auto again = store->install(registry_, example_, "b.so");
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again->newly_loaded);
  EXPECT_EQ(again->info.source, "a.so") << "the first load's record";
  EXPECT_EQ(registry_.size(), tasks);
  EXPECT_EQ(store->modules().size(), 1u);
}

TEST_F(ModuleStoreTest, RegisterLoadedFillsAFreshRegistryWithEveryModule) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->install(registry_, example_, "a.so"));
  TaskRegistry fresh;  // what a server builds after a load: a new table around the modules it has
  ASSERT_TRUE(store->register_loaded(fresh));
  ASSERT_NE(fresh.find("count_primes"), nullptr);
  EXPECT_EQ(fresh.find("count_primes")->origin, "module example_tasks");
  EXPECT_EQ(fresh.size(), 5u);
  EXPECT_FALSE(store->register_loaded(fresh)) << "the same tasks twice collide";
}

TEST_F(ModuleStoreTest, ACollidingModuleIsRefusedWhole) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store);
  auto bytes = read_bytes(env_path("RFARM_TEST_MODULE_COLLISION"));
  auto got = store->install(registry_, bytes, "collision.so");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, FarmErrc::name_collision);
  EXPECT_EQ(got.error().message, "module collides: 'add' is already registered (builtin)");
  EXPECT_EQ(registry_.find("collision.fresh"), nullptr) << "not even its new task";
  EXPECT_TRUE(files_in(store_dir_).empty()) << "and its file is gone";
  EXPECT_TRUE(store->modules().empty());
  const TaskDescriptor* add = registry_.find("add");
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(add->origin, "builtin") << "the built-in is untouched";
}

TEST_F(ModuleStoreTest, BytesThatAreNoModuleAreRefusedAndRemoved) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store);
  std::string text = "not a shared library";
  auto got = store->install(registry_, as_bytes(text), "junk.so");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, FarmErrc::module_open_failed);
  EXPECT_TRUE(files_in(store_dir_).empty());
  auto no_entry = store->install(registry_, read_bytes(env_path("RFARM_TEST_MODULE_NO_ENTRY")), "no_entry.so");
  ASSERT_FALSE(no_entry);
  EXPECT_EQ(no_entry.error().code, FarmErrc::no_entry_point);
}

TEST_F(ModuleStoreTest, TheAnnouncedHashMustMatch) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store);
  auto got = store->install(registry_, example_, "x.so", std::string(64, '0'));
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, FarmErrc::hash_mismatch);
  EXPECT_TRUE(files_in(store_dir_).empty());
}

TEST_F(ModuleStoreTest, InstallsAFile) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store);
  auto got = store->install_file(registry_, env_path("RFARM_EXAMPLE_TASKS"));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->info.source, "libexample_tasks.so");
  EXPECT_EQ(got->info.sha256, sha256_hex(example_).value());
  auto missing = store->install_file(registry_, parent_ + "/missing.so");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, std::errc::no_such_file_or_directory);
}

TEST_F(ModuleStoreTest, RefusesNamesThatLookLikePaths) {
  auto store = ModuleStore::open(store_dir_);
  ASSERT_TRUE(store);
  for (std::string bad : {std::string("../evil.so"), std::string("dir/x.so"), std::string(".hidden.so"),
                          std::string("nul\0.so", 7), std::string(256, 'x')}) {
    auto got = store->install(registry_, example_, bad);
    ASSERT_FALSE(got) << bad;
    EXPECT_EQ(got.error().code, FarmErrc::invalid_module_name);
  }
  EXPECT_TRUE(files_in(store_dir_).empty());
}

TEST_F(ModuleStoreTest, RefusesASymlinkedDirectory) {
  std::string real = parent_ + "/real";
  ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(::symlink(real.c_str(), store_dir_.c_str()), 0);
  auto store = ModuleStore::open(store_dir_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, FarmErrc::unsafe_module_store);
}

TEST_F(ModuleStoreTest, RefusesADirectoryOthersCanReach) {
  ASSERT_EQ(::mkdir(store_dir_.c_str(), 0700), 0);
  ASSERT_EQ(::chmod(store_dir_.c_str(), 0755), 0);
  auto store = ModuleStore::open(store_dir_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, FarmErrc::unsafe_module_store);
  EXPECT_NE(store.error().message.find("mode 0755"), std::string::npos) << store.error().message;
}

TEST_F(ModuleStoreTest, RefusesAFileWhereTheDirectoryShouldBe) {
  std::ofstream(store_dir_) << "x";
  auto store = ModuleStore::open(store_dir_);
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, FarmErrc::unsafe_module_store);
}

TEST(ContentHashTest, KnownVectors) {
  EXPECT_EQ(sha256_hex(as_bytes(std::string_view(""))).value(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex(as_bytes(std::string_view("abc"))).value(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(is_sha256_hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  EXPECT_FALSE(is_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(is_sha256_hex("abc"));
}

}  // namespace
}  // namespace rfarm::farm

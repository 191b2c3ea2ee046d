// farm-server's task modules, as a program: --module at start, and modules shipped by clients (ModuleTransfer):
// accepted with --accept-modules from an authenticated client (Unix credentials), refused otherwise, the same
// bytes twice a no-op, and info listing what is loaded. The module is examples/tasks (libexample_tasks.so).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "farm/tasks/content_hash.hpp"
#include "test/support/farm_test_client.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;
using farm::FailureKind;
using Message = farm::wire::Message;

class FarmServerModulesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tool_path("RFARM_FARM_SERVER").empty()) GTEST_SKIP() << "RFARM_FARM_SERVER is not set (run through meson test)";
    module_path_ = tool_path("RFARM_EXAMPLE_TASKS_MODULE");
    ASSERT_FALSE(module_path_.empty()) << "RFARM_EXAMPLE_TASKS_MODULE is not set";
    module_ = file_bytes(module_path_);
    ASSERT_FALSE(module_.empty());
    sha256_ = farm::sha256_hex(ConstBytes(module_)).value();
  }

  static std::vector<std::byte> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::byte> out(bytes.size());
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
  }

  std::optional<FarmAnswer> ship(FarmTestClient& client, std::uint64_t transfer_id, std::string_view sha256,
                                 const std::vector<std::byte>* library = nullptr) {
    if (library == nullptr) library = &module_;
    std::vector<std::byte> out;
    client.encoder().module_transfer(
        out, {.transfer_id = transfer_id, .name = "libshipped.so", .sha256 = sha256, .bytes = ConstBytes(*library)});
    if (!client.send_bytes(out)) return std::nullopt;
    return client.read_frame(20s);
  }

  // count_primes(0, 100) on client: 25 if the module's tasks are there.
  std::optional<FarmAnswer> count_primes(FarmTestClient& client, std::uint64_t id) {
    if (!client.submit(id, "count_primes", [](flexbuffers::Builder& b) { b.Int(0); b.Int(100); })) return std::nullopt;
    return client.read_frame(10s);
  }

  // The modules info lists: (name, sha256) pairs.
  std::vector<std::pair<std::string, std::string>> listed_modules(FarmTestClient& client) {
    std::vector<std::pair<std::string, std::string>> listed;
    if (!client.submit(900, "info")) return listed;
    auto info = client.read_frame(10s);
    if (!info || !info->is(Message::Result)) return listed;
    auto modules = info->root().AsMap()["modules"].AsVector();
    for (std::size_t i = 0; i < modules.size(); ++i) {
      auto m = modules[i].AsMap();
      listed.emplace_back(m["name"].AsString().str(), m["sha256"].AsString().str());
    }
    return listed;
  }

  std::string module_path_;
  std::vector<std::byte> module_;
  std::string sha256_;
};

TEST_F(FarmServerModulesTest, ModuleLoadedAtStartServesItsTasksAndIsListed) {
  auto server = FarmServerProcess::start({"--listen", "tcp:127.0.0.1:0", "--threads", "2", "--module", module_path_});
  ASSERT_TRUE(server->ok()) << server->failure;
  auto client = FarmTestClient::connect(server->endpoints.at(0));
  ASSERT_TRUE(client && client->handshake());
  auto answer = count_primes(*client, 1);
  ASSERT_TRUE(answer && answer->is(Message::Result)) << (answer ? answer->message : "no answer");
  EXPECT_EQ(answer->value_int(), 25);
  auto listed = listed_modules(*client);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].first, "example_tasks");
  EXPECT_EQ(listed[0].second, sha256_);
}

TEST_F(FarmServerModulesTest, ShippedModuleIsLoadedOnceFromAnAuthenticatedClient) {
  TempDir dir;
  auto server = FarmServerProcess::start({"--listen", "unix:" + dir.file("farm.sock"), "--listen", "tcp:127.0.0.1:0",
                                          "--threads", "2", "--accept-modules", "--log-level", "info"});
  ASSERT_TRUE(server->ok()) << server->failure;

  // Plaintext tcp: not authenticated: the feature is not granted and a transfer is refused.
  auto stranger = FarmTestClient::connect(server->endpoints.at(1));
  ASSERT_TRUE(stranger);
  auto welcome = stranger->hello(farm::feature_bit(farm::wire::Feature::modules));
  ASSERT_TRUE(welcome && welcome->accepted);
  EXPECT_EQ(welcome->features & farm::feature_bit(farm::wire::Feature::modules), 0u);
  auto refused = ship(*stranger, 1, sha256_);
  ASSERT_TRUE(refused && refused->is(Message::ModuleAck));
  EXPECT_FALSE(refused->accepted);
  EXPECT_NE(refused->message.find("authenticated"), std::string::npos) << refused->message;
  auto unknown = count_primes(*stranger, 2);
  ASSERT_TRUE(unknown && unknown->is(Message::Failure));
  EXPECT_EQ(unknown->kind, FailureKind::unknown_task);

  // The Unix peer (our own uid): granted; a wrong hash is refused, the right one loads, the same bytes again
  // are a no-op.
  auto owner = FarmTestClient::connect(server->endpoints.at(0));
  ASSERT_TRUE(owner);
  welcome = owner->hello(farm::feature_bit(farm::wire::Feature::modules));
  ASSERT_TRUE(welcome && welcome->accepted);
  EXPECT_NE(welcome->features & farm::feature_bit(farm::wire::Feature::modules), 0u);
  auto mismatch = ship(*owner, 3, std::string(64, '0'));
  ASSERT_TRUE(mismatch && mismatch->is(Message::ModuleAck));
  EXPECT_FALSE(mismatch->accepted);
  EXPECT_NE(mismatch->message.find("SHA-256"), std::string::npos) << mismatch->message;

  auto loaded = ship(*owner, 4, sha256_);
  ASSERT_TRUE(loaded && loaded->is(Message::ModuleAck));
  EXPECT_TRUE(loaded->accepted) << loaded->message;
  EXPECT_FALSE(loaded->already_loaded);
  EXPECT_EQ(loaded->task_id, 4u);
  auto answer = count_primes(*owner, 5);
  ASSERT_TRUE(answer && answer->is(Message::Result)) << (answer ? answer->message : "no answer");
  EXPECT_EQ(answer->value_int(), 25);

  auto again = ship(*owner, 6, sha256_);
  ASSERT_TRUE(again && again->is(Message::ModuleAck));
  EXPECT_TRUE(again->accepted);
  EXPECT_TRUE(again->already_loaded);
  auto listed = listed_modules(*owner);
  ASSERT_EQ(listed.size(), 1u) << "the same bytes twice are loaded once";
  EXPECT_EQ(listed[0].second, sha256_);

  // Every core got the new table: connections spread over both cores all find the task.
  for (int i = 0; i < 6; ++i) {
    auto c = FarmTestClient::connect(server->endpoints.at(1));
    ASSERT_TRUE(c && c->handshake());
    auto a = count_primes(*c, 10);
    ASSERT_TRUE(a && a->is(Message::Result)) << "connection " << i << ": " << (a ? a->message : "no answer");
    EXPECT_EQ(a->value_int(), 25);
  }
}

TEST_F(FarmServerModulesTest, SecondModuleJoinsTheFirstAndACollidingOneIsRefusedWhole) {
  const std::string hardened_path = tool_path("RFARM_HARDENED_MODULE"), collision_path = tool_path("RFARM_COLLISION_MODULE");
  ASSERT_FALSE(hardened_path.empty() || collision_path.empty()) << "run through meson test";
  TempDir dir;
  auto server = FarmServerProcess::start({"--listen", "unix:" + dir.file("farm.sock"), "--threads", "2",
                                          "--module", module_path_, "--accept-modules"});
  ASSERT_TRUE(server->ok()) << server->failure;
  auto owner = FarmTestClient::connect(server->endpoints.at(0));
  ASSERT_TRUE(owner && owner->handshake(farm::feature_bit(farm::wire::Feature::modules)));
  const auto hardened = file_bytes(hardened_path);
  auto loaded = ship(*owner, 1, farm::sha256_hex(ConstBytes(hardened)).value(), &hardened);
  ASSERT_TRUE(loaded && loaded->accepted) << (loaded ? loaded->message : "no answer");
  ASSERT_TRUE(owner->submit(2, "hardened.negate", [](flexbuffers::Builder& b) { b.Int(7); }));
  auto negated = owner->read_frame(10s);
  ASSERT_TRUE(negated && negated->is(Message::Result)) << (negated ? negated->message : "no answer");
  EXPECT_EQ(negated->value_int(), -7);
  auto primes = count_primes(*owner, 3);  // the module loaded at start is in the new table too
  ASSERT_TRUE(primes && primes->is(Message::Result)) << (primes ? primes->message : "no answer");
  EXPECT_EQ(primes->value_int(), 25);

  const auto collision = file_bytes(collision_path);
  auto refused = ship(*owner, 4, farm::sha256_hex(ConstBytes(collision)).value(), &collision);
  ASSERT_TRUE(refused && refused->is(Message::ModuleAck));
  EXPECT_FALSE(refused->accepted);
  EXPECT_NE(refused->message.find("add"), std::string::npos) << refused->message;
  ASSERT_TRUE(owner->submit(5, "add", [](flexbuffers::Builder& b) { b.Int(7); b.Int(2); }));
  auto sum = owner->read_frame(10s);
  ASSERT_TRUE(sum && sum->is(Message::Result));
  EXPECT_EQ(sum->value_int(), 9) << "the built-in add must be untouched by the refused module";
  EXPECT_EQ(listed_modules(*owner).size(), 2u);
}

TEST_F(FarmServerModulesTest, ServerWithoutAcceptModulesRefusesShippedModules) {
  TempDir dir;
  auto server = FarmServerProcess::start({"--listen", "unix:" + dir.file("farm.sock"), "--threads", "1"});
  ASSERT_TRUE(server->ok()) << server->failure;
  auto owner = FarmTestClient::connect(server->endpoints.at(0));
  ASSERT_TRUE(owner && owner->handshake(farm::feature_bit(farm::wire::Feature::modules)));
  auto refused = ship(*owner, 1, sha256_);
  ASSERT_TRUE(refused && refused->is(Message::ModuleAck));
  EXPECT_FALSE(refused->accepted);
  EXPECT_NE(refused->message.find("--accept-modules"), std::string::npos) << refused->message;
  auto unknown = count_primes(*owner, 2);
  ASSERT_TRUE(unknown && unknown->is(Message::Failure));
  EXPECT_EQ(unknown->kind, FailureKind::unknown_task);
}

}  // namespace
}  // namespace rfarm::test

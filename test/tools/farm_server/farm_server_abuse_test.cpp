// farm-server against abusive peers (issue 15, "Backpressure and abuse"), as a program: a real farm-server and raw
// sockets. Each case checks the server's memory (VmRSS from /proc) or that another client keeps being served.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "test/support/farm_test_client.hpp"
#include "test/tools/farm_server/farm_server_process.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;
using Message = farm::wire::Message;

// A process's resident set, in bytes (VmRSS in /proc/PID/status), or 0 if unreadable.
std::size_t resident_bytes(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stoul(line.substr(6)) * 1024;  // "VmRSS:   1234 kB"
  }
  return 0;
}

class FarmServerAbuseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tool_path("RFARM_FARM_SERVER").empty()) GTEST_SKIP() << "RFARM_FARM_SERVER is not set (run through meson test)";
  }

  std::unique_ptr<FarmServerProcess> start(std::vector<std::string> args) {
    args.insert(args.begin(), {"--listen", "tcp:127.0.0.1:0", "--log-level", "info"});
    auto server = FarmServerProcess::start(args);
    EXPECT_TRUE(server->ok()) << server->failure;
    return server;
  }

  static FarmTestClient welcomed(const FarmServerProcess& server) {
    auto client = FarmTestClient::connect(server.endpoints.at(0));
    EXPECT_TRUE(client) << client.error().message();
    EXPECT_TRUE(client->handshake());
    return std::move(*client);
  }

  // add(2, 3) answered on client (id: any number not in flight there).
  static void expect_answer(FarmTestClient& client, std::uint64_t id) {
    ASSERT_TRUE(client.submit(id, "add", [](flexbuffers::Builder& b) { b.Int(2); b.Int(3); }));
    auto answer = client.read_frame(10s);
    ASSERT_TRUE(answer && answer->is(Message::Result)) << "the server stopped serving its other client";
    EXPECT_EQ(answer->task_id, id);
    EXPECT_EQ(answer->value_int(), 5);
  }
};

// A 4-byte header declaring a frame of the maximum size (64 MiB by default), then a trickle: the server's reader
// grows its buffer with what arrived, so 16 such connections cost kilobytes, not 16 x 64 MiB.
TEST_F(FarmServerAbuseTest, HugeDeclaredLengthsPinNoMemory) {
  auto server = start({"--threads", "1"});
  ASSERT_TRUE(server->ok());
  FarmTestClient normal = welcomed(*server);
  expect_answer(normal, 1);
  const std::size_t before = resident_bytes(server->pid());
  ASSERT_GT(before, 0u);

  constexpr std::uint32_t kDeclared = (64u << 20) - 4;  // the largest payload farm-server accepts by default
  std::vector<FarmTestClient> peers;
  for (int i = 0; i < 16; ++i) {
    auto peer = FarmTestClient::connect(server->endpoints.at(0));
    ASSERT_TRUE(peer) << peer.error().message();
    std::vector<std::byte> bytes(4 + 1000, std::byte{0x5a});
    for (int b = 0; b < 4; ++b) bytes[b] = static_cast<std::byte>((kDeclared >> (8 * b)) & 0xff);
    ASSERT_TRUE(peer->send_bytes(bytes));
    peers.push_back(std::move(*peer));
  }
  expect_answer(normal, 2);
  // The largest RSS over a second (the server reads the 16 sockets in its own time): a reader that allocated the
  // declared length would show 64 MiB per connection as soon as it read a header.
  std::size_t after = 0;
  for (int i = 0; i < 20; ++i) {
    after = std::max(after, resident_bytes(server->pid()));
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(after, before + (8u << 20)) << "RSS grew from " << before << " to " << after << " bytes";
  expect_answer(normal, 3);
}

}  // namespace
}  // namespace rfarm::test

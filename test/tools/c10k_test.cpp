// C10K, proven with real processes: one echo-server holds 10,000 concurrent connections from a Python client
// (test/tools/c10k_client.py, a peer that is not rfarm) and echoes on every one of them, every byte checked,
// on both backends, on one reactor (--threads 1) and on a two-core runtime (--threads 2). Afterwards the server
// has let go of every connection and exits 0 on SIGTERM.
//
// The client and the server are separate processes, each under the 20,000-descriptor limit of this machine.
#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <tuple>

#include "reactor/net/endpoint.hpp"
#include "test/support/child_process.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

constexpr int kConnections = 10'000;

std::size_t open_descriptors(pid_t pid) {
  std::size_t n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n >= 2 ? n - 2 : 0;  // . and ..
}

class C10kTest : public ::testing::TestWithParam<std::tuple<const char*, int>> {};

TEST_P(C10kTest, TenThousandConnectionsEchoEveryByte) {
  auto [backend, threads] = GetParam();
  std::string server_path = tool_path("RFARM_ECHO_SERVER");
  std::string python = tool_path("RFARM_PYTHON3");
  std::string client = tool_path("RFARM_C10K_CLIENT");
  if (server_path.empty() || python.empty() || client.empty()) GTEST_SKIP() << "echo-server or python3 not given";

  auto server = ChildProcess::spawn({server_path, "--listen", "tcp:127.0.0.1:0", "--backend", backend, "--threads",
                                     std::to_string(threads)});
  ASSERT_TRUE(server) << server.error().message();
  auto line = server->read_line(10s);
  ASSERT_TRUE(line) << "echo-server printed no endpoint";
  auto endpoint = EndpointSpec::parse(*line);
  ASSERT_TRUE(endpoint) << *line;
  const std::size_t idle_fds = open_descriptors(server->pid());

  ToolRun run = run_tool({python, client, "127.0.0.1", std::to_string(endpoint->address.port()),
                          std::to_string(server->pid()), "--conns", std::to_string(kConnections), "--timeout", "45"},
                         {}, 55s);
  if (run.status == 77) GTEST_SKIP() << run.out;
  ASSERT_EQ(run.status, 0) << describe(run);
  EXPECT_NE(run.out.find("ok conns=" + std::to_string(kConnections)), std::string::npos) << run.out;
  std::printf("%s/%d threads: %s", backend, threads, run.out.c_str());

  // Every connection is let go of: the descriptor count returns to where it was before the client came.
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (open_descriptors(server->pid()) > idle_fds && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  EXPECT_LE(open_descriptors(server->pid()), idle_fds) << "the server still holds closed connections";

  server->terminate();
  EXPECT_EQ(server->wait(10s), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, C10kTest,
                         ::testing::Combine(::testing::Values("epoll", "uring"), ::testing::Values(1, 2)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_threads" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace rfarm::test

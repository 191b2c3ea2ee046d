// farm-server as a system service: started through the s6 run script's command line (tools/farm-server.s6),
// then under s6-supervise itself on a temporary service directory; stopped by SIGTERM (s6-svc -d), drained,
// exit status 0. The systemd unit is checked for what its ExecStart needs.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test/support/child_process.hpp"
#include "test/support/farm_test_client.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;
using Message = farm::wire::Message;

class FarmServerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = tool_path("RFARM_FARM_SERVER");
    s6_dir_ = tool_path("RFARM_FARM_SERVER_S6");
    if (server_.empty() || s6_dir_.empty()) GTEST_SKIP() << "run through meson test";
    ASSERT_TRUE(dir_.ok());
    // A service directory as an administrator makes one: the run scripts, and ./env with the settings.
    service_ = dir_.path() + "/service";
    namespace fs = std::filesystem;
    fs::create_directories(service_ + "/env");
    for (const char* f : {"run", "run.exec"}) fs::copy_file(s6_dir_ + "/" + f, service_ + "/" + f);
    socket_ = dir_.path() + "/run/farm.sock";  // its directory does not exist: the run script makes it
    write(service_ + "/env/FARM_SERVER", server_);
    write(service_ + "/env/FARM_LISTEN", "unix:" + socket_);
    write(service_ + "/env/FARM_ARGS", "--threads 1 --log-level info");
  }
  void TearDown() override { std::filesystem::remove_all(dir_.path() + "/service"); std::filesystem::remove_all(dir_.path() + "/run"); }

  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text << "\n"; }

  void expect_serves(const EndpointSpec& endpoint) {
    auto client = FarmTestClient::connect(endpoint);
    ASSERT_TRUE(client) << client.error().message();
    ASSERT_TRUE(client->handshake());
    ASSERT_TRUE(client->submit(1, "add", [](flexbuffers::Builder& b) { b.Int(20); b.Int(22); }));
    auto answer = client->read_frame(5s);
    ASSERT_TRUE(answer && answer->is(Message::Result));
    EXPECT_EQ(answer->value_int(), 42);
  }

  TempDir dir_;
  std::string server_, s6_dir_, service_, socket_;
};

TEST_F(FarmServerServiceTest, RunScriptCommandLineStartsAServerThatSigtermStops) {
  // Exactly what s6-supervise does: run ./run with the service directory as the working directory.
  auto server = FarmServerProcess::start({"-c", "cd '" + service_ + "' && exec ./run"}, "/bin/sh");
  ASSERT_TRUE(server->ok()) << server->failure;
  ASSERT_EQ(server->endpoints.size(), 1u);
  EXPECT_EQ(server->endpoints[0].to_string(), "unix:" + socket_);
  struct stat st{};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  expect_serves(server->endpoints[0]);
  server->signal(SIGTERM);  // the shell exec'd into farm-server: the signal reaches it
  EXPECT_EQ(server->wait(10s), 0);
  EXPECT_NE(::access(socket_.c_str(), F_OK), 0) << "a clean exit removes the socket file";
}

TEST_F(FarmServerServiceTest, UnderS6SuperviseUpThenDownWithExitStatusZero) {
  const std::string supervise = "/usr/bin/s6-supervise", svc = "/usr/bin/s6-svc", svstat = "/usr/bin/s6-svstat";
  if (::access(supervise.c_str(), X_OK) != 0 || ::access(svc.c_str(), X_OK) != 0)
    GTEST_SKIP() << "s6 is not installed (Debian: s6)";
  // s6-supervise starts ./run at once; the server's first line comes through s6-supervise's stdout.
  auto supervisor = FarmServerProcess::start({service_}, supervise);
  ASSERT_TRUE(supervisor->ok()) << supervisor->failure;
  ASSERT_EQ(supervisor->endpoints.size(), 1u);
  expect_serves(supervisor->endpoints[0]);
  auto status = [&] {
    auto child = ChildProcess::spawn({svstat, service_});
    if (!child) return std::string();
    auto line = child->read_line(5s);
    child->wait(5s);
    return line.value_or("");
  };
  EXPECT_EQ(status().rfind("up", 0), 0u) << status();
  // Down: SIGTERM, drained, exit 0; s6 records the exit code.
  auto down = ChildProcess::spawn({svc, "-wd", "-T", "10000", "-d", service_});
  ASSERT_TRUE(down);
  EXPECT_EQ(down->wait(15s), 0);
  const std::string after = status();
  EXPECT_EQ(after.rfind("down", 0), 0u) << after;
  EXPECT_NE(after.find("exitcode 0"), std::string::npos) << after;
  auto exit_supervisor = ChildProcess::spawn({svc, "-x", service_});
  ASSERT_TRUE(exit_supervisor);
  exit_supervisor->wait(5s);
  EXPECT_EQ(supervisor->wait(10s), 0);
}

TEST_F(FarmServerServiceTest, SystemdUnitRunsTheProgramWithItsHardening) {
  std::ifstream in(tool_path("RFARM_FARM_SERVER_UNIT"));
  std::string unit{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ASSERT_FALSE(unit.empty());
  for (const char* line : {"ExecStart=/usr/local/bin/farm-server --listen ${FARM_LISTEN}", "KillSignal=SIGTERM",
                           "DynamicUser=yes", "RuntimeDirectory=farm-server", "NoNewPrivileges=yes",
                           "ProtectSystem=strict", "ReadWritePaths=/var/lib/farm-server"})
    EXPECT_NE(unit.find(line), std::string::npos) << line;
  // The unit's command line is one farm-server accepts (the usage check runs before anything listens).
  auto run = FarmServerProcess::start({"--listen", "unix:" + dir_.path() + "/unit.sock", "--module-dir",
                                       dir_.path() + "/modules", "--threads", "1"});
  ASSERT_TRUE(run->ok()) << run->failure;
  run->signal(SIGTERM);
  EXPECT_EQ(run->wait(10s), 0);
  std::filesystem::remove_all(dir_.path() + "/modules");
}

}  // namespace
}  // namespace rfarm::test

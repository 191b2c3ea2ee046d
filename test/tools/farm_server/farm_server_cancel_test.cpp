// Cancel and deadlines (PROTOCOL.md §5), against a real farm-server with one worker, from the Python client
// (test/farm/python/cancel_session.py, on flatc --python output): the Welcome grants cancel and deadlines; a queued
// task cancelled never runs and is answered `cancelled` at once; a deadline that passes while a task waits for the
// worker is answered `deadline_exceeded` without running it; a running offloaded task sees the cancel; a task id
// reused while in flight is one protocol error, after which what was in flight is still answered.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test/support/child_process.hpp"
#include "test/support/tls_peers.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/tools/tool_runner.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

class FarmServerCancelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tool_path("RFARM_FARM_SERVER").empty()) GTEST_SKIP() << "RFARM_FARM_SERVER is not set (run through meson test)";
    python_ = tool_path("RFARM_PYTHON3_FLATBUFFERS");
    session_ = tool_path("RFARM_FARM_CANCEL_SESSION");
    if (python_.empty() || session_.empty())
      GTEST_SKIP() << "no python3 with the flatbuffers module (Debian: python3-flatbuffers)";
    server_ = FarmServerProcess::start({"--listen", "tcp:127.0.0.1:0", "--threads", "1", "--workers", "1"});
    ASSERT_TRUE(server_->ok()) << server_->failure;
  }

  // cancel_session.py's lines (JSON objects) until DONE.
  std::vector<std::string> session(const std::string& scenario) {
    auto child = spawn_merged({python_, session_, server_->endpoints.at(0).to_string(), scenario});
    EXPECT_TRUE(child) << child.error().message();
    if (!child) return {};
    std::vector<std::string> lines;
    for (int i = 0; i < 20; ++i) {
      auto line = child->read_line(15s);
      if (!line || *line == "DONE") break;
      lines.push_back(*line);
    }
    child->wait(5s);
    return lines;
  }

  static std::string joined(const std::vector<std::string>& lines) {
    std::string all;
    for (const auto& l : lines) all += l + "\n";
    return all;
  }
  // The number after "key": in a JSON line.
  static long number(const std::string& line, const std::string& key) {
    auto at = line.find("\"" + key + "\": ");
    return at == std::string::npos ? -1 : std::stol(line.substr(at + key.size() + 4));
  }
  static bool has(const std::string& line, const std::string& piece) { return line.find(piece) != std::string::npos; }

  std::string python_;
  std::string session_;
  std::unique_ptr<FarmServerProcess> server_;
};

TEST_F(FarmServerCancelTest, AQueuedTaskCancelledOrPastItsDeadlineNeverRuns) {
  auto lines = session("queued");
  ASSERT_EQ(lines.size(), 6u) << joined(lines);
  EXPECT_TRUE(has(lines[0], R"("accepted": true)")) << lines[0];
  EXPECT_EQ(number(lines[0], "features") & 6, 6) << "cancel (1 << 1) and deadlines (1 << 2) granted: " << lines[0];
  EXPECT_TRUE(has(lines[1], R"("task_id": 10, "type": "result")")) << lines[1];
  // The cancel is answered when read, long before the task in front of it (400 ms) ends.
  EXPECT_TRUE(has(lines[2], R"("kind": "cancelled")") && has(lines[2], R"("task_id": 2,)")) << joined(lines);
  EXPECT_LT(number(lines[2], "ms"), 300) << lines[2];
  EXPECT_TRUE(has(lines[3], R"("task_id": 1, "type": "result", "value": null)")) << joined(lines);
  EXPECT_TRUE(has(lines[4], R"("kind": "deadline_exceeded")") && has(lines[4], R"("task_id": 3,)") &&
              has(lines[4], "did not run"))
      << joined(lines);
  // Between the two infos only the first info and task 1 ran: not the cancelled 2 nor the expired 3.
  ASSERT_TRUE(has(lines[5], R"("task_id": 11, "type": "result")")) << lines[5];
  EXPECT_EQ(number(lines[5], "tasks_run") - number(lines[1], "tasks_run"), 2) << joined(lines);
}

TEST_F(FarmServerCancelTest, ARunningOffloadedTaskSeesTheCancel) {
  auto lines = session("running");
  ASSERT_EQ(lines.size(), 2u) << joined(lines);
  EXPECT_TRUE(has(lines[1], R"("kind": "cancelled")") && has(lines[1], R"("task_id": 1,)")) << lines[1];
  EXPECT_LT(number(lines[1], "ms"), 2000) << "sleep_ms(5000) polls should_stop(): " << lines[1];
}

TEST_F(FarmServerCancelTest, ATaskIdReusedInFlightIsOneProtocolError) {
  auto lines = session("reuse");
  ASSERT_EQ(lines.size(), 4u) << joined(lines);
  EXPECT_TRUE(has(lines[1], R"("kind": "protocol_error")") && has(lines[1], R"("task_id": 0,)") &&
              has(lines[1], "task id 7 reused while that task is in flight"))
      << lines[1];
  EXPECT_TRUE(has(lines[2], R"("task_id": 7, "type": "result", "value": null)")) << "7 is still answered: " << lines[2];
  EXPECT_TRUE(has(lines[3], R"("type": "closed")")) << lines[3];
}

}  // namespace
}  // namespace rfarm::test

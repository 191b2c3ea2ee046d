// mcast, tested as a program: a receiver and a sender meet on a group over the loopback interface (which
// delivers multicast to local members when asked explicitly with --iface lo), any-source and
// source-specific; the receiver stops after --count datagrams or on SIGTERM, with status 0.
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>
#include <string>

#include "test/support/child_process.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;

class McastTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mcast_ = tool_path("RFARM_MCAST");
    if (mcast_.empty()) GTEST_SKIP() << "RFARM_MCAST is not set (run through meson test)";
    // A group and port of this process's own, so concurrent runs do not hear each other.
    unsigned pid = static_cast<unsigned>(::getpid());
    group_ = "239.77." + std::to_string((pid >> 8) & 0xff) + "." + std::to_string(pid & 0xff) + ":" +
             std::to_string(20000 + pid % 20000);
  }

  // Starts a receiver; false if it did not say it joined.
  bool start_receiver(std::vector<std::string> extra) {
    std::vector<std::string> argv{mcast_, "recv", group_, "--iface", "lo"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = ChildProcess::spawn(argv);
    if (!child) return false;
    receiver_.emplace(std::move(*child));
    return receiver_->read_line(10s) == "joined " + group_;
  }

  ToolRun send(const std::string& text, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{mcast_, "send", group_, "--iface", "lo"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(text);
    return run_tool(argv, {}, 10s);
  }

  std::string mcast_;
  std::string group_;
  std::optional<ChildProcess> receiver_;
};

TEST_F(McastTest, ReceiverPrintsSenderAndTextThenStopsAfterCount) {
  ASSERT_TRUE(start_receiver({"--count", "2"}));
  ToolRun sent = send("hello group", {"--count", "2"});
  ASSERT_EQ(sent.status, 0) << describe(sent);
  for (int i = 0; i < 2; ++i) {
    auto line = receiver_->read_line(10s);
    ASSERT_TRUE(line) << "datagram " << i << " did not arrive";
    EXPECT_TRUE(line->ends_with(" hello group")) << *line;
  }
  EXPECT_EQ(receiver_->wait(10s), 0) << "the receiver must exit 0 after --count datagrams";
}

TEST_F(McastTest, SourceSpecificReceiverHearsOnlyItsSource) {
  // 127.0.0.2 is a loopback address too: what the sender binds to is the source the group sees.
  ASSERT_TRUE(start_receiver({"--source", "127.0.0.2", "--count", "1"}));
  ASSERT_EQ(send("from the wrong source", {"--bind", "127.0.0.3"}).status, 0);
  ASSERT_EQ(send("from the right source", {"--bind", "127.0.0.2"}).status, 0);
  auto line = receiver_->read_line(10s);
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "127.0.0.2 from the right source");
  EXPECT_EQ(receiver_->wait(10s), 0);
}

TEST_F(McastTest, SigtermStopsTheReceiverWithStatusZero) {
  ASSERT_TRUE(start_receiver({}));
  receiver_->terminate();
  EXPECT_EQ(receiver_->wait(10s), 0);
}

}  // namespace
}  // namespace rfarm::test

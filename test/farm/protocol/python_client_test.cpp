// A client in another language, written from farm/PROTOCOL.md: Python frames built with `flatc --python` output
// and Debian's python3-flatbuffers (test/farm/python/farm_wire.py) are decoded and answered by the C++ codec, and
// Python decodes the answers. Python runs as a child process; frames cross as hex lines.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "../../support/child_process.hpp"
#include "farm/protocol/frame_codec.hpp"
#include "farm/protocol/handshake.hpp"
#include "farm/tasks/builtin_tasks.hpp"

namespace rfarm::farm {
namespace {

using namespace std::chrono_literals;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::vector<std::byte> from_hex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::vector<std::byte> bytes(hex.size() / 2);
  for (std::size_t i = 0; i < bytes.size(); ++i)
    bytes[i] = static_cast<std::byte>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  return bytes;
}

std::string to_hex(ConstBytes bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (std::byte b : bytes) {
    hex += kHex[std::to_integer<int>(b) >> 4];
    hex += kHex[std::to_integer<int>(b) & 15];
  }
  return hex;
}

class PythonClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    python_ = env("RFARM_PYTHON3_FLATBUFFERS");
    if (python_.empty()) GTEST_SKIP() << "no python3 with the flatbuffers module (Debian: python3-flatbuffers)";
    ASSERT_FALSE(env("RFARM_FARM_PYTHON_CLIENT").empty()) << "run through meson test";
    ASSERT_TRUE(register_builtin_tasks(registry_));
  }

  // Starts the client in mode, answers its frames as a server would, and returns what it printed.
  std::vector<std::string> converse(std::vector<std::string> mode) {
    std::vector<std::string> argv{python_, env("RFARM_FARM_PYTHON_CLIENT")};
    argv.insert(argv.end(), mode.begin(), mode.end());
    auto child = test::ChildProcess::spawn(argv);
    EXPECT_TRUE(child) << child.error().message();
    if (!child) return {};
    auto line = child->read_line(20s);
    EXPECT_TRUE(line && line->starts_with("FRAMES ")) << (line ? *line : "no output");
    if (!line || !line->starts_with("FRAMES ")) return {};

    FrameReader reader;
    reader.append(from_hex(std::string_view(*line).substr(7)));
    std::vector<std::byte> out;
    for (;;) {
      auto frame = reader.next();
      EXPECT_TRUE(frame) << "the C++ decoder refused a Python frame: " << frame.error().message();
      if (!frame || !*frame) break;
      answer(**frame, out);
    }
    EXPECT_EQ(reader.buffered(), 0u);
    EXPECT_TRUE(child->write("FRAMES " + to_hex(out) + "\n"));
    std::vector<std::string> printed;
    while (auto l = child->read_line(20s)) {
      if (*l == "DONE") break;
      printed.push_back(*l);
    }
    EXPECT_EQ(child->wait(20s), 0);
    return printed;
  }

  void answer(const FrameView& frame, std::vector<std::byte>& out) {
    if (const auto* hello = frame.as<wire::Hello>()) {
      HandshakeDecision d = answer_hello(*hello, {});
      ASSERT_FALSE(encoder_.welcome(out, {.accepted = d.accepted, .reason = d.reason, .features = d.features,
                                          .server_version = "test"}));
    } else if (const auto* submit = frame.as<wire::Submit>()) {
      TaskContext context({.task_id = submit->task_id()});
      TaskOutcome o = registry_.invoke(submit->task()->string_view(), context, args_of(*submit), result_);
      if (o.ok()) {
        ASSERT_FALSE(encoder_.result(out, submit->task_id(), std::as_bytes(std::span(result_.GetBuffer()))));
      } else {
        ASSERT_FALSE(encoder_.failure(out, {.task_id = submit->task_id(), .kind = o.kind(), .message = o.message(),
                                            .task = submit->task()->string_view()}));
      }
    } else if (const auto* ping = frame.as<wire::Ping>()) {
      ASSERT_FALSE(encoder_.pong(out, ping->nonce()));
    } else {
      ADD_FAILURE() << "unexpected message " << wire::EnumNameMessage(frame.type());
    }
  }

  std::string python_;
  TaskRegistry registry_;
  FrameEncoder encoder_;
  flexbuffers::Builder result_;
};

TEST_F(PythonClientTest, PythonFramesAreDecodedAndOurAnswersReadInPython) {
  std::vector<std::string> printed = converse({"conversation"});
  std::vector<std::string> expected{
      R"({"accepted": true, "features": 3, "max_frame_size": 67108864, "protocol_version": 1, "reason": "", "type": "welcome"})",
      R"({"task_id": 1, "type": "result", "value": [1, "two", {"k": [true, null]}, {"blob": "0102"}, 2.5, -7, 1099511627776]})",
      R"({"task_id": 2, "type": "result", "value": 6.5})",
      R"({"kind": "bad_arguments", "message": "argument 2 of 'add': expected number, got string", "task": "add", "task_id": 3, "type": "failure"})",
      R"({"kind": "unknown_task", "message": "no task named 'no_such_task'", "task": "no_such_task", "task_id": 4, "type": "failure"})",
      R"({"task_id": 5, "type": "result", "value": 4611686018427387904})",
      R"({"nonce": 99, "type": "pong"})",
  };
  EXPECT_EQ(printed, expected);
}

TEST_F(PythonClientTest, AnotherProtocolVersionIsRefusedWithTheReason) {
  std::vector<std::string> printed = converse({"version", "2"});
  ASSERT_EQ(printed.size(), 1u);
  EXPECT_EQ(printed[0],
            R"({"accepted": false, "features": 0, "max_frame_size": 67108864, "protocol_version": 1, "reason": "protocol version 2 is not supported; this server speaks version 1", "type": "welcome"})");
}

}  // namespace
}  // namespace rfarm::farm

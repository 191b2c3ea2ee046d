// farm-server, tested as a program: real farm-server processes driven by a byte-level test client
// (test/support/farm_test_client.hpp): tasks inline and offloaded, pipelining, many clients, bad input of every
// kind while another client keeps being served, end-server and SIGTERM semantics, the command line's refusals.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "test/support/farm_test_client.hpp"
#include "test/support/temp_dir.hpp"
#include "test/support/farm_server_process.hpp"
#include "test/tools/tool_runner.hpp"
#include "test/tools/tool_runner.hpp"

namespace rfarm::test {
namespace {

using namespace std::chrono_literals;
using farm::FailureKind;
using Message = farm::wire::Message;

class FarmServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (tool_path("RFARM_FARM_SERVER").empty()) GTEST_SKIP() << "RFARM_FARM_SERVER is not set (run through meson test)";
  }

  std::unique_ptr<FarmServerProcess> start(std::vector<std::string> args = {}) {
    if (std::find(args.begin(), args.end(), "--listen") == args.end()) {
      args.push_back("--listen");
      args.push_back("tcp:127.0.0.1:0");
    }
    if (std::find(args.begin(), args.end(), "--threads") == args.end()) {
      args.push_back("--threads");
      args.push_back("2");
    }
    auto server = FarmServerProcess::start(args);
    EXPECT_TRUE(server->ok()) << server->failure;
    return server;
  }

  FarmTestClient connect(const FarmServerProcess& server, std::size_t which = 0) {
    auto client = FarmTestClient::connect(server.endpoints.at(which));
    EXPECT_TRUE(client) << client.error().message();
    return std::move(*client);
  }

  // A client that has been welcomed, on server's first endpoint.
  FarmTestClient welcomed(const FarmServerProcess& server) {
    FarmTestClient client = connect(server);
    EXPECT_TRUE(client.handshake());
    return client;
  }

  // Checks that the server still serves: a fresh client gets add(2, 3) = 5.
  void expect_still_serving(const FarmServerProcess& server) {
    FarmTestClient other = welcomed(server);
    ASSERT_TRUE(other.submit(77, "add", [](flexbuffers::Builder& b) { b.Int(2); b.Int(3); }));
    auto answer = other.read_frame(5s);
    ASSERT_TRUE(answer && answer->is(Message::Result)) << "the server stopped serving other clients";
    EXPECT_EQ(answer->task_id, 77u);
    EXPECT_EQ(answer->value_int(), 5);
  }
};

TEST_F(FarmServerTest, FirstLineNamesEveryBoundEndpoint) {
  TempDir dir;
  const std::string path = dir.file("farm.sock");
  auto server = start({"--listen", "tcp:127.0.0.1:0", "--listen", "unix:" + path});
  ASSERT_TRUE(server->ok());
  ASSERT_EQ(server->endpoints.size(), 2u) << server->first_line;
  EXPECT_EQ(server->endpoints[0].transport, Transport::tcp);
  EXPECT_NE(server->endpoints[0].address.port(), 0) << "port 0 must be replaced by the bound port";
  EXPECT_EQ(server->endpoints[1].to_string(), "unix:" + path);
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "a unix: socket is created mode 0600 by default";
  for (std::size_t i = 0; i < 2; ++i) {
    FarmTestClient client = connect(*server, i);
    ASSERT_TRUE(client.handshake()) << server->endpoints[i].to_string();
    ASSERT_TRUE(client.ping(42));
    auto pong = client.read_frame();
    ASSERT_TRUE(pong && pong->is(Message::Pong));
    EXPECT_EQ(pong->nonce, 42u);
  }
}

TEST_F(FarmServerTest, RunsInlineAndOffloadedTasksAndReportsFailures) {
  auto server = start();
  ASSERT_TRUE(server->ok());
  FarmTestClient client = welcomed(*server);
  std::vector<std::byte> out;
  client.submit_frame(out, 1, "add", [](flexbuffers::Builder& b) { b.Int(40); b.Int(2); });          // inline
  client.submit_frame(out, 2, "sleep_ms", [](flexbuffers::Builder& b) { b.Int(1); });                // a worker
  client.submit_frame(out, 3, "no_such_task");
  client.submit_frame(out, 4, "add", [](flexbuffers::Builder& b) { b.Int(1); b.String("x"); });
  client.submit_frame(out, 5, "fail", [](flexbuffers::Builder& b) { b.String("boom"); });
  client.submit_frame(out, 6, "echo", [](flexbuffers::Builder& b) { b.String("hi"); });
  client.submit_frame(out, 7, "info");
  ASSERT_TRUE(client.send_bytes(out));
  std::map<std::uint64_t, FarmAnswer> answers;
  for (int i = 0; i < 7; ++i) {
    auto a = client.read_frame(10s);
    ASSERT_TRUE(a) << "answer " << i << " missing";
    answers[a->task_id] = *a;
  }
  ASSERT_TRUE(answers[1].is(Message::Result));
  EXPECT_EQ(answers[1].value_int(), 42);
  ASSERT_TRUE(answers[2].is(Message::Result));
  EXPECT_TRUE(answers[2].root().IsNull());
  ASSERT_TRUE(answers[3].is(Message::Failure));
  EXPECT_EQ(answers[3].kind, FailureKind::unknown_task);
  EXPECT_NE(answers[3].message.find("no_such_task"), std::string::npos);
  ASSERT_TRUE(answers[4].is(Message::Failure));
  EXPECT_EQ(answers[4].kind, FailureKind::bad_arguments);
  EXPECT_NE(answers[4].message.find("argument 2"), std::string::npos) << answers[4].message;
  ASSERT_TRUE(answers[5].is(Message::Failure));
  EXPECT_EQ(answers[5].kind, FailureKind::task_error);
  EXPECT_EQ(answers[5].message, "boom");
  EXPECT_EQ(answers[5].task, "fail");
  ASSERT_TRUE(answers[6].is(Message::Result));
  EXPECT_EQ(answers[6].root().AsVector()[0].AsString().str(), "hi");
  ASSERT_TRUE(answers[7].is(Message::Result));
  auto info = answers[7].root().AsMap();
  EXPECT_EQ(info["cores"].AsUInt64(), 2u);
  EXPECT_GE(info["tasks_run"].AsUInt64(), 1u);
}

TEST_F(FarmServerTest, ThousandsOfPipelinedTasksAllAnsweredCorrectly) {
  for (const char* mode : {"inline", "offloaded"}) {
    SCOPED_TRACE(mode);
    std::vector<std::string> args{"--max-in-flight", "256"};
    if (std::string(mode) == "offloaded") args.push_back("--no-inline");
    auto server = start(args);
    ASSERT_TRUE(server->ok());
    FarmTestClient client = welcomed(*server);
    constexpr std::uint64_t kTasks = 5000;
    std::vector<std::byte> out;
    for (std::uint64_t i = 1; i <= kTasks; ++i)
      client.submit_frame(out, i, "add", [i](flexbuffers::Builder& b) { b.Int(static_cast<std::int64_t>(i)); b.Int(1000); });
    // Sent from another thread: the server stops reading above --max-in-flight, so a writer that never reads
    // could fill both socket buffers.
    std::thread writer([&] { client.send_bytes(out); });
    std::vector<bool> seen(kTasks + 1, false);
    std::uint64_t answered = 0;
    for (; answered < kTasks; ++answered) {
      auto a = client.read_frame(10s);
      ASSERT_TRUE(a && a->is(Message::Result)) << "after " << answered << " answers";
      ASSERT_GE(a->task_id, 1u);
      ASSERT_LE(a->task_id, kTasks);
      ASSERT_FALSE(seen[a->task_id]) << "task " << a->task_id << " answered twice";
      seen[a->task_id] = true;
      ASSERT_EQ(a->value_int(), static_cast<std::int64_t>(a->task_id) + 1000);
    }
    writer.join();
    EXPECT_EQ(answered, kTasks);
  }
}

TEST_F(FarmServerTest, ManyClientsAtOnce) {
  auto server = start();
  ASSERT_TRUE(server->ok());
  constexpr int kClients = 16, kTasks = 300;
  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = FarmTestClient::connect(server->endpoints[0]);
      if (!client || !client->handshake()) return;
      std::vector<std::byte> out;
      for (int i = 0; i < kTasks; ++i)
        client->submit_frame(out, static_cast<std::uint64_t>(i), i % 3 == 0 ? "sleep_ms" : "add",
                             [&](flexbuffers::Builder& b) {
                               if (i % 3 == 0) {
                                 b.Int(0);
                               } else {
                                 b.Int(c);
                                 b.Int(i);
                               }
                             });
      if (!client->send_bytes(out)) return;
      for (int i = 0; i < kTasks; ++i) {
        auto a = client->read_frame(10s);
        if (!a || !a->is(Message::Result)) return;
        const auto id = static_cast<int>(a->task_id);
        if (id % 3 == 0 ? a->root().IsNull() : a->value_int() == c + id) correct.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(correct.load(), kClients * kTasks);
}

// Each kind of bad input: the offending client gets a protocol_error Failure (where the framing allows one) and
// is closed, the server logs one line saying why, and another client keeps being served.
struct BadInput {
  const char* name;
  std::function<std::vector<std::byte>(FarmTestClient&)> bytes;
  bool hello_first;
  const char* logged;  // a piece of the logged reason
};

std::vector<std::byte> raw(std::initializer_list<std::uint8_t> bytes) {
  std::vector<std::byte> out;
  for (auto b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}

TEST_F(FarmServerTest, BadInputClosesOnlyTheOffendingClientWithOneLoggedReason) {
  std::vector<BadInput> cases = {
      {"garbage", [](FarmTestClient&) { return raw({16, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}); },
       true, "unacceptable frame"},
      {"zero length", [](FarmTestClient&) { return raw({0, 0, 0, 0}); }, true, "length 0"},
      {"oversized", [](FarmTestClient&) { return raw({0xff, 0xff, 0xff, 0x7f}); }, true, "larger than the maximum"},
      {"submit before hello",
       [](FarmTestClient& c) {
         std::vector<std::byte> out;
         c.submit_frame(out, 1, "add");
         return out;
       },
       false, "must be a Hello"},
      {"unverifiable (identifier)",
       [](FarmTestClient& c) {
         std::vector<std::byte> out;
         c.submit_frame(out, 1, "add");
         out[8] = std::byte{'X'};  // the file identifier "RFM1"
         return out;
       },
       true, "unacceptable frame"},
      {"a server's message", [](FarmTestClient& c) {
         std::vector<std::byte> out;
         c.encoder().pong(out, 1);
         return out;
       },
       true, "does not send"},
  };
  auto server = start({"--log-level", "warn"});
  ASSERT_TRUE(server->ok());
  for (const BadInput& bad : cases) {
    SCOPED_TRACE(bad.name);
    FarmTestClient client = connect(*server);
    if (bad.hello_first) {
      ASSERT_TRUE(client.handshake());
    }
    ASSERT_TRUE(client.send_bytes(bad.bytes(client)));
    auto failure = client.read_frame(5s);
    ASSERT_TRUE(failure && failure->is(Message::Failure)) << "expected a protocol_error Failure";
    EXPECT_EQ(failure->kind, FailureKind::protocol_error);
    EXPECT_EQ(failure->task_id, 0u);
    EXPECT_TRUE(client.closed_by_server(5s)) << "the connection must be closed after a protocol error";
    expect_still_serving(*server);
  }
  // One line per offending connection, each with its reason.
  const std::string log = server->stderr_text();
  for (const BadInput& bad : cases) EXPECT_NE(log.find(bad.logged), std::string::npos) << bad.name << "\n" << log;
  std::size_t lines = 0;
  for (std::size_t at = 0; (at = log.find("protocol error", at)) != std::string::npos; ++at) ++lines;
  EXPECT_EQ(lines, cases.size()) << log;
}

TEST_F(FarmServerTest, WrongProtocolVersionIsRefusedInTheWelcome) {
  auto server = start();
  ASSERT_TRUE(server->ok());
  FarmTestClient client = connect(*server);
  ASSERT_TRUE(client.send_bytes(client.hello_frame(0, 2)));
  auto welcome = client.read_frame(5s);
  ASSERT_TRUE(welcome && welcome->is(Message::Welcome));
  EXPECT_FALSE(welcome->accepted);
  EXPECT_NE(welcome->message.find("version 2"), std::string::npos) << welcome->message;
  EXPECT_TRUE(client.closed_by_server(5s));
  expect_still_serving(*server);
}

TEST_F(FarmServerTest, ClientVanishingMidFrameOrWithTasksInFlightLeavesTheServerServing) {
  auto server = start({"--log-level", "warn"});
  ASSERT_TRUE(server->ok());
  {
    FarmTestClient client = welcomed(*server);
    std::vector<std::byte> out;
    client.submit_frame(out, 1, "add", [](flexbuffers::Builder& b) { b.Int(1); });
    out.resize(out.size() - 5);  // half a frame, then gone
    ASSERT_TRUE(client.send_bytes(out));
  }
  {
    FarmTestClient client = welcomed(*server);
    ASSERT_TRUE(client.submit(1, "sleep_ms", [](flexbuffers::Builder& b) { b.Int(200); }));
  }  // gone with a task in flight: its answer is dropped when it comes back
  expect_still_serving(*server);
  std::this_thread::sleep_for(300ms);
  expect_still_serving(*server);
  EXPECT_NE(server->stderr_text().find("in the middle of a frame"), std::string::npos) << server->stderr_text();
}

TEST_F(FarmServerTest, EndServerStopsAcceptingWhileOpenConnectionsGoOn) {
  auto server = start();
  ASSERT_TRUE(server->ok());
  FarmTestClient stays = welcomed(*server);
  FarmTestClient ender = welcomed(*server);
  ASSERT_TRUE(ender.end_server("test is over"));
  ender.close();
  // New connections are refused (the listener is closed; retry briefly for the close to reach every core).
  bool refused = false;
  for (int i = 0; i < 100 && !refused; ++i) {
    auto late = FarmTestClient::connect(server->endpoints[0]);
    refused = !late;
    if (!refused) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(refused) << "end-server must stop accepting new connections";
  // The connection that was open goes on.
  ASSERT_TRUE(stays.submit(5, "add", [](flexbuffers::Builder& b) { b.Int(2); b.Int(2); }));
  auto answer = stays.read_frame(5s);
  ASSERT_TRUE(answer && answer->is(Message::Result));
  EXPECT_EQ(answer->value_int(), 4);
  EXPECT_TRUE(server->running());
  stays.close();  // the last connection: the server exits
  EXPECT_EQ(server->wait(10s), 0);
}

TEST_F(FarmServerTest, SigtermDrainsTasksInFlightThenExitsZero) {
  auto server = start();
  ASSERT_TRUE(server->ok());
  FarmTestClient client = welcomed(*server);
  ASSERT_TRUE(client.submit(1, "sleep_ms", [](flexbuffers::Builder& b) { b.Int(300); }));
  std::this_thread::sleep_for(50ms);  // the Submit is read before the signal
  server->signal(SIGTERM);
  auto answer = client.read_frame(5s);
  ASSERT_TRUE(answer && answer->is(Message::Result)) << "the task in flight must finish and be answered";
  EXPECT_EQ(answer->task_id, 1u);
  EXPECT_TRUE(client.closed_by_server(5s));
  EXPECT_EQ(server->wait(10s), 0);
}

// The RSS of a process, in KiB (0 if unknown).
long rss_kib(pid_t pid) {
  std::string status = whole_file("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find("VmRSS:");
  return at == std::string::npos ? 0 : std::stol(status.substr(at + 6));
}

TEST_F(FarmServerTest, ClientThatNeverReadsIsClosedWithBoundedMemory) {
  auto server = start({"--write-stall-timeout-ms", "500", "--log-level", "warn"});
  ASSERT_TRUE(server->ok());
  FarmTestClient lazy = welcomed(*server);
  const long rss_before = rss_kib(server->pid());
  // 2000 echoes of 32 KiB each: 64 MiB of answers, which the client never reads.
  const std::string payload(32 * 1024, 'x');
  std::vector<std::byte> out;
  for (std::uint64_t i = 1; i <= 2000; ++i)
    lazy.submit_frame(out, i, "echo", [&](flexbuffers::Builder& b) { b.String(payload); });
  std::thread writer([&] { lazy.send_bytes(out); });  // blocks once the server stops reading; ends at the close
  // Meanwhile another client is served promptly.
  expect_still_serving(*server);
  bool logged = false;
  for (int i = 0; i < 500 && !logged; ++i) {
    logged = server->stderr_text().find("does not read") != std::string::npos;
    if (!logged) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(logged) << server->stderr_text();
  const long rss_after = rss_kib(server->pid());
  EXPECT_LT(rss_after - rss_before, 48 * 1024) << "the server buffered the unread answers without bound";
  ::shutdown(lazy.fd(), SHUT_RDWR);  // unblocks the writer if the server had not closed yet
  writer.join();
  expect_still_serving(*server);
}

TEST_F(FarmServerTest, IdleAndSilentConnectionsAreClosedByTheirTimeouts) {
  auto server = start({"--handshake-timeout-ms", "300", "--idle-timeout-ms", "300", "--log-level", "info"});
  ASSERT_TRUE(server->ok());
  FarmTestClient silent = connect(*server);     // never says Hello
  FarmTestClient idle = welcomed(*server);      // says Hello, then nothing
  EXPECT_TRUE(silent.closed_by_server(5s));
  EXPECT_TRUE(idle.closed_by_server(5s));
  const std::string log = server->stderr_text();
  EXPECT_NE(log.find("no Hello within the handshake timeout"), std::string::npos) << log;
  EXPECT_NE(log.find("idle past the idle timeout"), std::string::npos) << log;
  // A connection with a task running longer than the idle timeout is not idle.
  FarmTestClient busy = welcomed(*server);
  ASSERT_TRUE(busy.submit(1, "sleep_ms", [](flexbuffers::Builder& b) { b.Int(600); }));
  auto answer = busy.read_frame(5s);
  ASSERT_TRUE(answer && answer->is(Message::Result));
}

TEST_F(FarmServerTest, CommandLineRefusesUnsafeOrIncompleteSetups) {
  const std::string program = tool_path("RFARM_FARM_SERVER");
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {{"--listen", "tcp:0.0.0.0:0"}, "--insecure-plaintext"},
           {{"--listen", "tls:127.0.0.1:0", "--tls-cert", "/dev/null", "--tls-key", "/dev/null"}, "--tls-ca"},
           {{"--listen", "tls:127.0.0.1:0", "--tls-cert", "c", "--tls-key", "k", "--tls-ca", "a"}, "--allow-subject"},
           {{"--accept-modules"}, "--accept-modules"},
           {{"--listen", "udp:127.0.0.1:0"}, "udp"},
           {{"--threads", "0"}, "--threads"},
       }) {
    std::vector<std::string> argv{program};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    ToolRun r = run_tool(argv);
    EXPECT_EQ(r.status, 2) << describe(r);
    EXPECT_NE(r.err.find(c.says), std::string::npos) << describe(r);
    EXPECT_EQ(r.err_lines().size(), 1u) << describe(r);
  }
  ToolRun help = run_tool({program, "--help"});
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--allow-uid"), std::string::npos);
  ToolRun insecure = run_tool({program, "--listen", "tcp:0.0.0.0:0", "--insecure-plaintext", "--version"});
  EXPECT_EQ(insecure.status, 0) << describe(insecure);
}

}  // namespace
}  // namespace rfarm::test

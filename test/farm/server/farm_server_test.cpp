// FarmServer as a library, on both backends (RuntimeTest): an in-process server on a 2-core runtime, driven by
// the byte-level test client. Dispatch (inline tasks on the connection's core, the others on a worker, or every
// task on a worker when inline_tasks is off), pipelining across cores, a throwing task, a frame that arrives
// misaligned, end_server and the runtime's graceful shutdown.
#include <gtest/gtest.h>

#include <sys/socket.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>

#include "farm/server/farm_server.hpp"
#include "test/reactor/runtime/runtime_fixture.hpp"
#include "test/support/farm_test_client.hpp"

namespace rfarm::test {
namespace {

using farm::FailureKind;
using Message = farm::wire::Message;

class FarmServerLibraryTest : public RuntimeTest {
 protected:
  // A started 2-core runtime and a server listening on loopback; the custom tasks say where they ran.
  void start(farm::FarmServerOptions options = {}, RuntimeOptions runtime_options = {}) {
    runtime_options.workers = 2;
    runtime_ = make_runtime(runtime_options);
    options.register_tasks = [](farm::TaskRegistry& r) -> farm::FarmResult<void> {
      // true when run on a runtime core (inline), false on a worker thread.
      if (auto a = r.add("on_core_inline", [] { return this_core() != kNotACore; }, farm::TaskFlags::may_run_inline); !a)
        return a;
      if (auto a = r.add("on_core_blocking", [] { return this_core() != kNotACore; }); !a) return a;
      return r.add("throws", []() -> std::int64_t { throw std::runtime_error("the task threw"); });
    };
    auto server = farm::FarmServer::create(*runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
    ASSERT_FALSE(runtime_->start());
    auto bound = server_->listen_blocking(*EndpointSpec::parse("tcp:127.0.0.1:0"));
    ASSERT_TRUE(bound) << bound.error().message();
    endpoint_ = *bound;
  }

  void TearDown() override {
    if (runtime_) {
      runtime_->stop();
      runtime_->join_for(10s);
      runtime_.reset();  // before the server: connections left on the cores refer to it
    }
    server_.reset();
    RuntimeTest::TearDown();
  }

  FarmTestClient client() {
    auto c = FarmTestClient::connect(endpoint_);
    EXPECT_TRUE(c) << c.error().message();
    EXPECT_TRUE(c->handshake());
    return std::move(*c);
  }

  bool where(FarmTestClient& c, const char* task) {
    EXPECT_TRUE(c.submit(1, task));
    auto a = c.read_frame(5s);
    EXPECT_TRUE(a && a->is(Message::Result)) << (a ? a->message : "no answer");
    return a && a->is(Message::Result) && a->root().AsBool();
  }

  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<farm::FarmServer> server_;
  EndpointSpec endpoint_;
};

TEST_P(FarmServerLibraryTest, InlineTasksRunOnTheCoreOthersOnAWorker) {
  start();
  FarmTestClient c = client();
  EXPECT_TRUE(where(c, "on_core_inline"));
  EXPECT_FALSE(where(c, "on_core_blocking"));
}

TEST_P(FarmServerLibraryTest, WithInlineTasksOffEveryTaskRunsOnAWorker) {
  farm::FarmServerOptions options;
  options.inline_tasks = false;
  start(std::move(options));
  FarmTestClient c = client();
  EXPECT_FALSE(where(c, "on_core_inline"));
}

TEST_P(FarmServerLibraryTest, PipelinedTasksFromSeveralClientsAllAnswered) {
  start();
  constexpr int kClients = 4, kTasks = 2000;
  std::atomic<int> correct{0};
  std::vector<std::thread> threads;
  for (int n = 0; n < kClients; ++n) {
    threads.emplace_back([&, n] {
      auto c = FarmTestClient::connect(endpoint_);
      if (!c || !c->handshake()) return;
      std::vector<std::byte> out;
      for (int i = 0; i < kTasks; ++i)
        c->submit_frame(out, static_cast<std::uint64_t>(i), i % 2 ? "add" : "echo",
                        [&](flexbuffers::Builder& b) { b.Int(i); b.Int(n); });
      std::thread writer([&] { c->send_bytes(out); });
      for (int i = 0; i < kTasks; ++i) {
        auto a = c->read_frame(10s);
        if (!a || !a->is(Message::Result)) break;
        const auto id = static_cast<int>(a->task_id);
        const bool ok = id % 2 ? a->value_int() == id + n
                               : a->root().AsVector()[0].AsInt64() == id && a->root().AsVector()[1].AsInt64() == n;
        if (ok) correct.fetch_add(1);
      }
      writer.join();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(correct.load(), kClients * kTasks);
  EXPECT_EQ(server_->tasks_run(), static_cast<std::uint64_t>(kClients * kTasks));
}

TEST_P(FarmServerLibraryTest, ThrowingTaskIsATaskErrorAndTheConnectionGoesOn) {
  start();
  FarmTestClient c = client();
  ASSERT_TRUE(c.submit(1, "throws"));
  auto a = c.read_frame(5s);
  ASSERT_TRUE(a && a->is(Message::Failure));
  EXPECT_EQ(a->kind, FailureKind::task_error);
  EXPECT_NE(a->message.find("the task threw"), std::string::npos) << a->message;
  EXPECT_EQ(a->task, "throws");
  EXPECT_FALSE(where(c, "on_core_blocking"));
}

TEST_P(FarmServerLibraryTest, FramesAfterOneOfOddLengthAreRealigned) {
  start();
  FarmTestClient c = client();
  // A Submit with the default task_id (not stored) and no arguments has no 8-byte field: its frame is a multiple
  // of 4 bytes only, for one of these task names, so every frame after it in the stream starts misaligned.
  std::vector<std::byte> out;
  for (const char* task : {"add", "echo"}) {
    flatbuffers::FlatBufferBuilder b;
    auto name = b.CreateString(task);
    auto submit = farm::wire::CreateSubmit(b, 0, name);
    b.FinishSizePrefixed(farm::wire::CreateFrame(b, farm::wire::Message::Submit, submit.Union()), "RFM1");
    if (b.GetSize() % 8 == 0) continue;
    out.assign(reinterpret_cast<const std::byte*>(b.GetBufferPointer()),
               reinterpret_cast<const std::byte*>(b.GetBufferPointer()) + b.GetSize());
    break;
  }
  ASSERT_FALSE(out.empty()) << "the test needs a frame whose length is not a multiple of 8";
  for (std::uint64_t i = 1; i <= 50; ++i)
    c.submit_frame(out, i, i % 2 ? "add" : "on_core_blocking", [&](flexbuffers::Builder& v) {
      if (i % 2) {
        v.Int(static_cast<std::int64_t>(i));
        v.Double(0.5);  // an 8-byte scalar read in place: it must be aligned
      }
    });
  ASSERT_TRUE(c.send_bytes(out));
  auto first = c.read_frame(5s);
  ASSERT_TRUE(first && first->is(Message::Result)) << (first ? first->message : "no answer");
  EXPECT_EQ(first->task_id, 0u);
  for (int n = 0; n < 50; ++n) {
    auto a = c.read_frame(5s);
    ASSERT_TRUE(a && a->is(Message::Result)) << (a ? a->message : "no answer");
    if (a->task_id % 2) {
      EXPECT_DOUBLE_EQ(a->root().AsDouble(), static_cast<double>(a->task_id) + 0.5);
    }
  }
}

TEST_P(FarmServerLibraryTest, GracefulShutdownAnswersTasksInFlightThenStops) {
  start();
  FarmTestClient c = client();
  ASSERT_TRUE(c.submit(1, "sleep_ms", [](flexbuffers::Builder& b) { b.Int(200); }));
  std::this_thread::sleep_for(50ms);
  runtime_->shutdown(5s);
  std::this_thread::sleep_for(100ms);  // shutdown reaches the cores by message
  // A Submit after the drain began is refused as overloaded (it did not start).
  ASSERT_TRUE(c.submit(2, "add", [](flexbuffers::Builder& b) { b.Int(1); }));
  std::map<std::uint64_t, FarmAnswer> answers;
  for (int i = 0; i < 2; ++i) {
    auto a = c.read_frame(5s);
    ASSERT_TRUE(a) << "answer " << i;
    answers[a->task_id] = *a;
  }
  EXPECT_TRUE(answers[1].is(Message::Result));
  ASSERT_TRUE(answers[2].is(Message::Failure));
  EXPECT_EQ(answers[2].kind, FailureKind::overloaded);
  EXPECT_TRUE(c.closed_by_server(5s));
  EXPECT_TRUE(runtime_->join_for(10s)) << "the runtime must stop once the connection drained";
}

TEST_P(FarmServerLibraryTest, HalfClosedClientGetsTheAnswersOfItsTasksThenTheClose) {
  farm::FarmServerOptions options;
  options.limits.write_stall_timeout = 100ms;  // shorter than the task: the task's time must not count
  start(std::move(options));
  FarmTestClient c = client();
  ASSERT_TRUE(c.submit(1, "sleep_ms", [](flexbuffers::Builder& b) { b.Int(300); }));
  ASSERT_TRUE(c.submit(2, "add", [](flexbuffers::Builder& b) { b.Int(3); }));
  ASSERT_EQ(::shutdown(c.fd(), SHUT_WR), 0);
  std::set<std::uint64_t> answered;
  for (int i = 0; i < 2; ++i) {
    auto a = c.read_frame(5s);
    ASSERT_TRUE(a && a->is(Message::Result)) << "answer " << i;
    answered.insert(a->task_id);
  }
  EXPECT_EQ(answered, (std::set<std::uint64_t>{1, 2}));
  EXPECT_TRUE(c.closed_by_server(5s));
}

TEST_P(FarmServerLibraryTest, EndServerStopsTheRuntimeWhenTheLastConnectionCloses) {
  start();
  FarmTestClient first = client();
  FarmTestClient second = client();
  server_->end_server("test");
  EXPECT_TRUE(server_->ending());
  EXPECT_FALSE(runtime_->join_for(200ms)) << "connections are open: the server goes on";
  EXPECT_FALSE(where(second, "on_core_blocking"));
  first.close();
  second.close();
  EXPECT_TRUE(runtime_->join_for(10s));
  EXPECT_EQ(server_->connections(), 0u);
}

RFARM_INSTANTIATE_RUNTIME_TESTS(FarmServerLibraryTest);

}  // namespace
}  // namespace rfarm::test

// FakeFarmServer: a small in-process farm server for the client's library tests, on its own thread and reactor.
// It speaks the real protocol with the real codec and runs the built-in tasks (sleep_ms on a timer, so that many
// sleep at once), and it can misbehave on demand: freeze (read and answer nothing, like SIGSTOP, with the
// connection left open), drop every connection (like a crash), refuse the handshake. The end-to-end tests against
// real farm-server processes live beside these (kernel_process_test.cpp).
#pragma once

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "farm/protocol/frame_encoder.hpp"
#include "farm/protocol/frame_reader.hpp"
#include "farm/protocol/handshake.hpp"
#include "farm/tasks/builtin_tasks.hpp"
#include "farm/tasks/task_context.hpp"
#include "farm/tasks/task_registry.hpp"
#include "reactor/loop/reactor.hpp"
#include "reactor/net/stream_listener.hpp"
#include "reactor/net/stream_socket.hpp"
#include "reactor/stream/send_queue.hpp"

namespace rfarm::farm::test {

class FakeFarmServer {
 public:
  struct Options {
    BackendKind backend = BackendKind::epoll;
    std::uint16_t port = 0;  // 0: a free one
    std::string refuse_reason{};  // non-empty: every Welcome refuses with it
    std::uint64_t features = kAllFeatures;  // what this server supports (the Welcome grants the intersection)
  };

  explicit FakeFarmServer(Options options) : options_(std::move(options)) {
    std::promise<std::uint16_t> bound;
    auto port = bound.get_future();
    thread_ = std::thread([this, &bound] { run(bound); });
    port_ = port.get();
  }
  FakeFarmServer(const FakeFarmServer&) = delete;
  FakeFarmServer& operator=(const FakeFarmServer&) = delete;
  ~FakeFarmServer() {
    if (reactor_ != nullptr) reactor_->post([this] { reactor_->stop(); });
    thread_.join();
  }

  bool ok() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  std::string spec() const { return "tcp:127.0.0.1:" + std::to_string(port_); }

  // While frozen nothing is read or answered; the connections stay open.
  void freeze(bool on) { frozen_.store(on); }
  // While held, Submits are read and started but sleep_ms answers wait (a busy server's tasks, still running).
  void hold_answers(bool on) { held_.store(on); }
  // Aborts every connection (the listener stays).
  void drop_connections() {
    std::promise<void> done;
    reactor_->post([&] {
      for (auto& weak : connections_)
        if (auto c = weak.lock()) c->socket.abort();
      done.set_value();
    });
    done.get_future().wait();
  }

  std::uint64_t tasks_run() const { return tasks_run_.load(); }
  std::uint64_t accepted() const { return accepted_.load(); }
  // The most Submit frames that one receive brought (they were sent together).
  std::uint64_t max_submits_per_receive() const { return max_batch_.load(); }

 private:
  struct Connection {
    explicit Connection(StreamSocket s) : socket(std::move(s)), out(socket) {}
    StreamSocket socket;
    SendQueue out;
    FrameEncoder encoder;
    std::vector<std::byte> buffer;
    void flush() {
      if (!buffer.empty()) out.push(std::move(buffer));
      buffer = {};
    }
  };

  void run(std::promise<std::uint16_t>& bound) {
    ReactorOptions ro;
    ro.backend = options_.backend;
    ro.log_level = LogLevel::error;
    auto reactor = Reactor::create(ro);
    auto address = Address::from_ip("127.0.0.1", options_.port);
    if (!reactor || !address) return bound.set_value(0);
    ListenOptions lo;
    lo.bind.reuse_address = true;
    auto listener = StreamListener::listen(**reactor, *address, lo);
    if (!listener) return bound.set_value(0);
    (void)register_builtin_tasks(registry_);
    reactor_ = reactor->get();
    listener_ = std::move(*listener);
    bound.set_value(listener_.local_address()->port());
    reactor_->spawn(accept_loop());
    reactor_->run();
    listener_.close();
    reactor->reset();
  }

  Task<void> accept_loop() {
    for (;;) {
      auto s = co_await listener_.accept();
      if (!s) co_return;
      ++accepted_;
      auto c = std::make_shared<Connection>(std::move(*s));
      connections_.push_back(c);
      reactor_->spawn(serve(c));
    }
  }

  Task<void> wait_unfrozen() {
    while (frozen_.load()) co_await reactor_->sleep(std::chrono::milliseconds(5));
  }

  Task<void> serve(std::shared_ptr<Connection> c) {
    FrameReader reader;
    bool welcomed = false;
    for (;;) {
      co_await wait_unfrozen();
      auto n = co_await c->socket.recv(reader.writable(64 * 1024));
      if (!n || *n == 0) co_return;
      co_await wait_unfrozen();
      reader.commit(*n);
      std::uint64_t submits = 0;
      for (;;) {
        auto frame = reader.next();
        if (!frame) co_return;
        if (!*frame) break;
        const FrameView& f = **frame;
        if (const auto* hello = f.as<wire::Hello>()) {
          HandshakeDecision d = answer_hello(*hello, {.features = options_.features});
          bool accept = d.accepted && options_.refuse_reason.empty();
          std::string reason = options_.refuse_reason.empty() ? d.reason : options_.refuse_reason;
          c->encoder.welcome(c->buffer, {.accepted = accept, .reason = reason, .features = d.features,
                                         .server_version = "fake", .cores = 1, .workers = 1});
          welcomed = accept;
        } else if (const auto* submit = f.as<wire::Submit>()) {
          if (!welcomed) co_return;
          ++submits;
          last_deadline_ms_.store(submit->deadline_ms());
          handle_submit(c, *submit);
        } else if (const auto* ping = f.as<wire::Ping>()) {
          c->encoder.pong(c->buffer, ping->nonce());
        } else if (f.as<wire::Cancel>() != nullptr) {
          ++cancels_;  // read, not acted on: a task's answer still comes (a Result that beats the Cancel)
        }
      }
      if (submits > max_batch_.load()) max_batch_.store(submits);
      c->flush();
    }
  }

  void handle_submit(const std::shared_ptr<Connection>& c, const wire::Submit& submit) {
    std::string task = submit.task()->str();
    std::uint64_t id = submit.task_id();
    ++tasks_run_;
    if (task == "sleep_ms") {  // on a timer, so that many sleep at once and answers come out of order
      auto ms = flexbuffers::GetRoot(reinterpret_cast<const std::uint8_t*>(args_of(submit).data()),
                                     args_of(submit).size()).AsVector()[0].AsInt64();
      std::weak_ptr<Connection> weak = c;
      reactor_->after(std::chrono::milliseconds(ms), [this, weak, id] { answer_later(weak, id); });
      return;
    }
    TaskContext context({.task_id = id});
    flexbuffers::Builder out;
    TaskOutcome outcome = registry_.invoke(task, context, args_of(submit), out);
    if (outcome.ok()) {
      c->encoder.result(c->buffer, id, std::as_bytes(std::span(out.GetBuffer())));
    } else {
      c->encoder.failure(c->buffer, {.task_id = id, .kind = outcome.kind(), .message = outcome.message(), .task = task});
    }
  }

  void answer_later(std::weak_ptr<Connection> weak, std::uint64_t id) {
    auto c = weak.lock();
    if (!c || !c->socket.is_open()) return;
    if (frozen_.load() || held_.load()) {  // a frozen process answers nothing; it catches up when thawed
      reactor_->after(std::chrono::milliseconds(5), [this, weak, id] { answer_later(weak, id); });
      return;
    }
    flexbuffers::Builder out;
    out.Null();
    out.Finish();
    c->encoder.result(c->buffer, id, std::as_bytes(std::span(out.GetBuffer())));
    c->flush();
  }

  Options options_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  Reactor* reactor_ = nullptr;
  StreamListener listener_;
  TaskRegistry registry_;
  std::vector<std::weak_ptr<Connection>> connections_;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> held_{false};
  std::atomic<std::uint64_t> tasks_run_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> max_batch_{0};
  std::atomic<std::uint32_t> last_deadline_ms_{~0u};
  std::atomic<std::uint64_t> cancels_{0};

 public:
  // Submit.deadline_ms of the last Submit received (~0u before any).
  std::uint32_t last_deadline_ms() const { return last_deadline_ms_.load(); }
  // Cancel frames received.
  std::uint64_t cancels() const { return cancels_.load(); }
};

}  // namespace rfarm::farm::test

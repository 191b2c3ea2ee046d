// FarmTestClient: a blocking farm client for tests that drive a real farm-server (or an in-process FarmServer)
// byte by byte, built on plain POSIX sockets and the farm codec, so a test can also send what no real client
// would (garbage, truncated frames, frames too large) and stop reading at will.
//
//     auto client = FarmTestClient::connect(spec).value();     // tcp: or unix:
//     ASSERT_TRUE(client.handshake());                          // Hello, then an accepting Welcome
//     client.submit(1, "add", [](flexbuffers::Builder& b) { b.Int(2); b.Int(3); });
//     auto answer = client.read_frame(5s);                      // Result{1, 5}
//     EXPECT_EQ(answer->value_int(), 5);
#pragma once

#include <flatbuffers/flexbuffers.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "farm/protocol/frame_codec.hpp"
#include "lib/error.hpp"
#include "reactor/net/endpoint.hpp"

namespace rfarm::test {

// One frame the server sent, decoded into plain fields.
struct FarmAnswer {
  farm::wire::Message type = farm::wire::Message::NONE;
  std::uint64_t task_id = 0;
  farm::FailureKind kind = farm::FailureKind::none;  // Failure
  std::string message;                               // Failure.message, Welcome.reason
  std::string task;                                  // Failure.task
  bool accepted = false;                             // Welcome, ModuleAck
  bool already_loaded = false;                       // ModuleAck
  std::uint64_t features = 0;                        // Welcome
  std::uint64_t nonce = 0;                           // Pong
  std::vector<std::uint8_t> value;                   // Result.value (a FlexBuffer)

  bool is(farm::wire::Message t) const { return type == t; }
  flexbuffers::Reference root() const { return flexbuffers::GetRoot(value); }
  std::int64_t value_int() const { return root().AsInt64(); }
};

class FarmTestClient {
 public:
  using Args = std::function<void(flexbuffers::Builder&)>;

  static Result<FarmTestClient> connect(const EndpointSpec& spec) {
    const Address& address = spec.address;
    int fd = ::socket(address.native_family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail_errno();
    if (::connect(fd, address.native(), address.native_length()) != 0) {
      auto ec = errno_code(errno);
      ::close(fd);
      return fail(ec);
    }
    return FarmTestClient(fd);
  }

  FarmTestClient(FarmTestClient&& o) noexcept : fd_(std::exchange(o.fd_, -1)), in_(std::move(o.in_)) {}
  FarmTestClient& operator=(FarmTestClient&&) = delete;
  ~FarmTestClient() { close(); }

  void close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }
  int fd() const { return fd_; }

  bool send_bytes(ConstBytes bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool send_bytes(const std::vector<std::byte>& bytes) { return send_bytes(ConstBytes(bytes)); }

  std::vector<std::byte> hello_frame(std::uint64_t features = 0, std::uint32_t version = farm::kProtocolVersion) {
    std::vector<std::byte> out;
    encoder_.hello(out, {.protocol_version = version, .features = features, .client_name = "farm test client"});
    return out;
  }
  // Hello, and the Welcome it gets; nullopt if none came within limit.
  std::optional<FarmAnswer> hello(std::uint64_t features = 0, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    if (!send_bytes(hello_frame(features))) return std::nullopt;
    return read_frame(limit);
  }
  bool handshake(std::uint64_t features = 0) {
    auto welcome = hello(features);
    return welcome && welcome->is(farm::wire::Message::Welcome) && welcome->accepted;
  }

  static std::vector<std::uint8_t> args_buffer(const Args& args) {
    flexbuffers::Builder b;
    b.Vector([&] { if (args) args(b); });
    b.Finish();
    return b.GetBuffer();
  }
  // Appends a Submit frame to out (many of them leave in one send).
  void submit_frame(std::vector<std::byte>& out, std::uint64_t id, std::string_view task, const Args& args = {}) {
    auto buffer = args_buffer(args);
    encoder_.submit(out, {.task_id = id, .task = task, .args = std::as_bytes(std::span(buffer))});
  }
  bool submit(std::uint64_t id, std::string_view task, const Args& args = {}) {
    std::vector<std::byte> out;
    submit_frame(out, id, task, args);
    return send_bytes(out);
  }
  bool ping(std::uint64_t nonce) {
    std::vector<std::byte> out;
    encoder_.ping(out, nonce);
    return send_bytes(out);
  }
  bool end_server(std::string_view reason = "test") {
    std::vector<std::byte> out;
    encoder_.end_server(out, reason);
    return send_bytes(out);
  }
  farm::FrameEncoder& encoder() { return encoder_; }

  // The next frame, decoded; nullopt at end of stream, on an error, or after limit.
  std::optional<FarmAnswer> read_frame(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (in_.size() >= 4) {
        std::uint32_t length = 0;
        std::memcpy(&length, in_.data(), 4);
        if (in_.size() >= 4 + std::size_t{length}) {
          std::vector<std::uint64_t> aligned((4 + length + 7) / 8);
          std::memcpy(aligned.data(), in_.data(), 4 + length);
          in_.erase(in_.begin(), in_.begin() + 4 + length);
          return decode(ConstBytes(reinterpret_cast<const std::byte*>(aligned.data()), 4 + length));
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[65536];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return std::nullopt;
      in_.insert(in_.end(), buffer, buffer + n);
    }
  }

  // Whether the server closed the connection (end of stream, or a reset) within limit, reading and
  // dropping whatever frames come first.
  bool closed_by_server(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[65536];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return true;
    }
  }

 private:
  explicit FarmTestClient(int fd) : fd_(fd) {}

  static std::optional<FarmAnswer> decode(ConstBytes frame) {
    auto view = farm::decode_frame(frame);
    if (!view) return std::nullopt;
    FarmAnswer a;
    a.type = view->type();
    auto text = [](const flatbuffers::String* s) { return s != nullptr ? s->str() : std::string(); };
    if (const auto* w = view->as<farm::wire::Welcome>()) {
      a.accepted = w->accepted();
      a.message = text(w->reason());
      a.features = w->features();
    } else if (const auto* r = view->as<farm::wire::Result>()) {
      a.task_id = r->task_id();
      auto v = farm::value_of(*r);
      a.value.assign(reinterpret_cast<const std::uint8_t*>(v.data()), reinterpret_cast<const std::uint8_t*>(v.data()) + v.size());
    } else if (const auto* f = view->as<farm::wire::Failure>()) {
      a.task_id = f->task_id();
      a.kind = farm::from_wire(f->kind());
      a.message = text(f->message());
      a.task = text(f->task());
    } else if (const auto* p = view->as<farm::wire::Pong>()) {
      a.nonce = p->nonce();
    } else if (const auto* m = view->as<farm::wire::ModuleAck>()) {
      a.task_id = m->transfer_id();
      a.accepted = m->accepted();
      a.already_loaded = m->already_loaded();
      a.message = text(m->message());
    }
    return a;
  }

  int fd_ = -1;
  std::vector<char> in_;
  farm::FrameEncoder encoder_;
};

}  // namespace rfarm::test

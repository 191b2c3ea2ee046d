// FrameEncoder: farm messages to frames, appended to an output buffer. Many frames (a turn's results) go into
// one buffer and leave in one send:
//
//     FrameEncoder encoder;                                   // one per connection (or thread); reused
//     std::vector<std::byte> out;
//     encoder.result(out, 7, result_bytes);                   // appends [u32 length][Frame{Result}]
//     encoder.failure(out, {.task_id = 8, .kind = FailureKind::task_error, .message = "boom", .task = "f"});
//     send_queue.push(std::move(out));
//
// Each frame is a size-prefixed FlatBuffer whose total length is a multiple of 8 and whose FlexBuffer vectors
// start 8-byte aligned (farm/PROTOCOL.md, "Framing"). The builder is kept between frames, so steady-state encoding
// allocates only when the output buffer grows. A frame that would pass max_frame_size is not written: the call
// returns FarmErrc::frame_too_large and leaves out as it was (a server then sends a server_error Failure instead
// of the Result).
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "farm/protocol/wire.hpp"
#include "lib/bytes.hpp"

namespace rfarm::farm {

struct HelloFields {
  std::uint32_t protocol_version = kProtocolVersion;
  std::uint64_t features = 0;
  std::string_view client_name = {};
  std::string_view auth_token = {};
};

struct WelcomeFields {
  bool accepted = false;
  std::string_view reason = {};
  std::uint32_t protocol_version = kProtocolVersion;
  std::uint64_t features = 0;
  std::string_view server_version = {};
  std::uint32_t max_frame_size = kDefaultMaxFrameSize;
  std::uint32_t cores = 0;
  std::uint32_t workers = 0;
};

struct SubmitFields {
  std::uint64_t task_id = 0;
  std::string_view task = {};
  ConstBytes args = {};  // a finished FlexBuffer whose root is a vector; empty: no arguments
  std::uint32_t deadline_ms = 0;
  std::uint32_t flags = 0;  // wire::SubmitFlags bits
};

struct FailureFields {
  std::uint64_t task_id = 0;
  FailureKind kind = FailureKind::server_error;
  std::string_view message = {};
  std::string_view task = {};
};

struct ModuleTransferFields {
  std::uint64_t transfer_id = 0;
  std::string_view name = {};
  std::string_view sha256 = {};
  ConstBytes bytes = {};
};

struct ModuleAckFields {
  std::uint64_t transfer_id = 0;
  bool accepted = false;
  bool already_loaded = false;
  std::string_view sha256 = {};
  std::string_view module_name = {};
  std::span<const std::string> tasks = {};
  FailureKind kind = FailureKind::none;
  std::string_view message = {};
};

class FrameEncoder {
 public:
  explicit FrameEncoder(std::size_t max_frame_size = kDefaultMaxFrameSize);

  std::error_code hello(std::vector<std::byte>& out, const HelloFields& fields);
  std::error_code welcome(std::vector<std::byte>& out, const WelcomeFields& fields);
  std::error_code submit(std::vector<std::byte>& out, const SubmitFields& fields);
  std::error_code result(std::vector<std::byte>& out, std::uint64_t task_id, ConstBytes value);
  std::error_code failure(std::vector<std::byte>& out, const FailureFields& fields);
  std::error_code cancel(std::vector<std::byte>& out, std::uint64_t task_id);
  std::error_code ping(std::vector<std::byte>& out, std::uint64_t nonce);
  std::error_code pong(std::vector<std::byte>& out, std::uint64_t nonce);
  std::error_code end_server(std::vector<std::byte>& out, std::string_view reason);
  std::error_code module_transfer(std::vector<std::byte>& out, const ModuleTransferFields& fields);
  std::error_code module_ack(std::vector<std::byte>& out, const ModuleAckFields& fields);

  std::size_t max_frame_size() const noexcept { return max_frame_size_; }

 private:
  // Starts a frame; false if `payload` bytes of variable-length fields alone would pass the maximum.
  bool begin(std::size_t payload) noexcept;
  // Wraps message in a Frame, finishes it and appends it to out.
  std::error_code finish(std::vector<std::byte>& out, wire::Message type, flatbuffers::Offset<void> message);
  // A FlexBuffer as a [ubyte] vector whose first byte is 8-byte aligned in the frame; 0 if empty.
  flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> flexbuffer_vector(ConstBytes bytes);
  flatbuffers::Offset<flatbuffers::String> string(std::string_view s);

  flatbuffers::FlatBufferBuilder builder_;
  std::size_t max_frame_size_;
};

}  // namespace rfarm::farm

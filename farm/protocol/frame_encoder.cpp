#include "farm/protocol/frame_encoder.hpp"

#include <algorithm>
#include <cstring>

#include "farm/error.hpp"

namespace rfarm::farm {

FrameEncoder::FrameEncoder(std::size_t max_frame_size)
    : builder_(1024), max_frame_size_(std::min(max_frame_size, kMaxFrameSizeLimit)) {}

bool FrameEncoder::begin(std::size_t payload) noexcept {
  builder_.Clear();
  // Every frame aligned to 8 as a whole: its length is a multiple of 8 and its 8-byte fields sit at 8-byte
  // offsets, so a receiver can decode back-to-back frames in place.
  builder_.TrackMinAlign(kFrameAlignment);
  // Refuse before building what could not be sent (and what FlatBuffers itself could not hold).
  return payload < max_frame_size_;
}

std::error_code FrameEncoder::finish(std::vector<std::byte>& out, wire::Message type,
                                     flatbuffers::Offset<void> message) {
  auto frame = wire::CreateFrame(builder_, type, message);
  builder_.FinishSizePrefixed(frame, wire::FrameIdentifier());
  std::size_t size = builder_.GetSize();
  if (size > max_frame_size_) return FarmErrc::frame_too_large;
  std::size_t at = out.size();
  out.resize(at + size);
  std::memcpy(out.data() + at, builder_.GetBufferPointer(), size);
  return {};
}

flatbuffers::Offset<flatbuffers::Vector<std::uint8_t>> FrameEncoder::flexbuffer_vector(ConstBytes bytes) {
  if (bytes.empty()) return 0;
  builder_.ForceVectorAlignment(bytes.size(), 1, kFrameAlignment);
  return builder_.CreateVector(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

flatbuffers::Offset<flatbuffers::String> FrameEncoder::string(std::string_view s) {
  return s.empty() ? 0 : builder_.CreateString(s.data(), s.size());
}

std::error_code FrameEncoder::hello(std::vector<std::byte>& out, const HelloFields& f) {
  if (!begin(f.client_name.size() + f.auth_token.size())) return FarmErrc::frame_too_large;
  auto client_name = string(f.client_name);
  auto auth_token = string(f.auth_token);
  auto hello = wire::CreateHello(builder_, f.protocol_version, f.features, client_name, auth_token);
  return finish(out, wire::Message::Hello, hello.Union());
}

std::error_code FrameEncoder::welcome(std::vector<std::byte>& out, const WelcomeFields& f) {
  if (!begin(f.reason.size() + f.server_version.size())) return FarmErrc::frame_too_large;
  auto reason = string(f.reason);
  auto version = string(f.server_version);
  auto welcome = wire::CreateWelcome(builder_, f.accepted, reason, f.protocol_version, f.features, version,
                                     f.max_frame_size, f.cores, f.workers);
  return finish(out, wire::Message::Welcome, welcome.Union());
}

std::error_code FrameEncoder::submit(std::vector<std::byte>& out, const SubmitFields& f) {
  if (!begin(f.task.size() + f.args.size())) return FarmErrc::frame_too_large;
  auto args = flexbuffer_vector(f.args);
  // task is required by the schema: an empty name is still written (and refused by the server as unknown).
  auto task = builder_.CreateString(f.task.data(), f.task.size());
  auto submit = wire::CreateSubmit(builder_, f.task_id, task, args, f.deadline_ms, f.flags);
  return finish(out, wire::Message::Submit, submit.Union());
}

std::error_code FrameEncoder::result(std::vector<std::byte>& out, std::uint64_t task_id, ConstBytes value) {
  if (!begin(value.size())) return FarmErrc::frame_too_large;
  auto bytes = flexbuffer_vector(value);
  auto result = wire::CreateResult(builder_, task_id, bytes);
  return finish(out, wire::Message::Result, result.Union());
}

std::error_code FrameEncoder::failure(std::vector<std::byte>& out, const FailureFields& f) {
  // A failure's message is cut rather than the failure lost: it must reach the client. The cut backs off to the
  // start of a UTF-8 sequence, so the text stays valid UTF-8 if it was.
  std::string_view message = f.message;
  if (message.size() > max_frame_size_ / 2) {
    std::size_t cut = max_frame_size_ / 2;
    while (cut > 0 && (static_cast<unsigned char>(message[cut]) & 0xC0) == 0x80) --cut;
    message = message.substr(0, cut);
  }
  if (!begin(message.size() + f.task.size())) return FarmErrc::frame_too_large;
  auto text = string(message);
  auto task = string(f.task);
  auto failure = wire::CreateFailure(builder_, f.task_id, to_wire(f.kind), text, task);
  return finish(out, wire::Message::Failure, failure.Union());
}

std::error_code FrameEncoder::cancel(std::vector<std::byte>& out, std::uint64_t task_id) {
  begin(0);
  return finish(out, wire::Message::Cancel, wire::CreateCancel(builder_, task_id).Union());
}

std::error_code FrameEncoder::ping(std::vector<std::byte>& out, std::uint64_t nonce) {
  begin(0);
  return finish(out, wire::Message::Ping, wire::CreatePing(builder_, nonce).Union());
}

std::error_code FrameEncoder::pong(std::vector<std::byte>& out, std::uint64_t nonce) {
  begin(0);
  return finish(out, wire::Message::Pong, wire::CreatePong(builder_, nonce).Union());
}

std::error_code FrameEncoder::end_server(std::vector<std::byte>& out, std::string_view reason) {
  if (!begin(reason.size())) return FarmErrc::frame_too_large;
  auto text = string(reason);
  return finish(out, wire::Message::EndServer, wire::CreateEndServer(builder_, text).Union());
}

std::error_code FrameEncoder::module_transfer(std::vector<std::byte>& out, const ModuleTransferFields& f) {
  if (!begin(f.name.size() + f.sha256.size() + f.bytes.size())) return FarmErrc::frame_too_large;
  auto bytes = builder_.CreateVector(reinterpret_cast<const std::uint8_t*>(f.bytes.data()), f.bytes.size());
  auto name = string(f.name);
  auto sha256 = string(f.sha256);
  auto transfer = wire::CreateModuleTransfer(builder_, f.transfer_id, name, sha256, bytes);
  return finish(out, wire::Message::ModuleTransfer, transfer.Union());
}

std::error_code FrameEncoder::module_ack(std::vector<std::byte>& out, const ModuleAckFields& f) {
  std::size_t payload = f.sha256.size() + f.module_name.size() + f.message.size();
  for (const std::string& t : f.tasks) payload += t.size() + 8;
  if (!begin(payload)) return FarmErrc::frame_too_large;
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
  names.reserve(f.tasks.size());
  for (const std::string& t : f.tasks) names.push_back(builder_.CreateString(t));
  auto tasks = builder_.CreateVector(names);
  auto sha256 = string(f.sha256);
  auto module_name = string(f.module_name);
  auto message = string(f.message);
  auto ack = wire::CreateModuleAck(builder_, f.transfer_id, f.accepted, f.already_loaded, sha256, module_name, tasks,
                                   to_wire(f.kind), message);
  return finish(out, wire::Message::ModuleAck, ack.Union());
}

}  // namespace rfarm::farm

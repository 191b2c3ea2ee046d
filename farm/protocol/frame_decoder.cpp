#include "farm/protocol/frame_decoder.hpp"

#include <algorithm>
#include <cstring>

#include "farm/error.hpp"

namespace rfarm::farm {
namespace {

std::size_t effective_max(const FrameLimits& limits) noexcept {
  return std::min(limits.max_frame_size, kMaxFrameSizeLimit);
}

ConstBytes bytes_of_vector(const flatbuffers::Vector<std::uint8_t>* v) noexcept {
  if (!v) return {};
  return {reinterpret_cast<const std::byte*>(v->data()), v->size()};
}

std::error_code verify_value(const flatbuffers::Vector<std::uint8_t>* v, const FlexLimits& limits) noexcept {
  if (!v || v->size() == 0) return {};
  return verify_flexbuffer(bytes_of_vector(v), limits);
}

}  // namespace

FrameSplit split_frame(ConstBytes input, const FrameLimits& limits) noexcept {
  if (input.size() < kFramePrefixSize) return {SplitStatus::need_more, kFramePrefixSize, {}};
  std::uint32_t length = 0;
  std::memcpy(&length, input.data(), sizeof length);  // little-endian on every target rfarm builds for
  if (length == 0) return {SplitStatus::error, 0, make_error_code(FarmErrc::frame_empty)};
  std::size_t total = kFramePrefixSize + static_cast<std::size_t>(length);
  if (total > effective_max(limits)) return {SplitStatus::error, 0, make_error_code(FarmErrc::frame_too_large)};
  if (input.size() < total) return {SplitStatus::need_more, total, {}};
  return {SplitStatus::frame, total, {}};
}

Result<FrameView> decode_frame(ConstBytes frame, const FrameLimits& limits) noexcept {
  if (frame.size() > effective_max(limits)) return fail(make_error_code(FarmErrc::frame_too_large));
  if (reinterpret_cast<std::uintptr_t>(frame.data()) % kFrameAlignment != 0)
    return fail(make_error_code(FarmErrc::frame_misaligned));
  const auto* data = reinterpret_cast<const std::uint8_t*>(frame.data());
  flatbuffers::Verifier::Options options;
  options.max_depth = limits.max_table_depth;
  options.max_tables = limits.max_tables;
  options.check_alignment = true;
  flatbuffers::Verifier verifier(data, frame.size(), options);
  // Checks the prefix equals the rest's size, the "RFM1" identifier, and every table, vector and string.
  if (!wire::VerifySizePrefixedFrameBuffer(verifier)) return fail(make_error_code(FarmErrc::frame_unverifiable));
  const wire::Frame* root = wire::GetSizePrefixedFrame(data);
  wire::Message type = root->message_type();
  if (type == wire::Message::NONE || type > wire::Message::MAX || !root->message())
    return fail(make_error_code(FarmErrc::unknown_message));
  if (type == wire::Message::Submit) {
    if (std::error_code ec = verify_value(root->message_as_Submit()->args(), limits.values)) return fail(ec);
  } else if (type == wire::Message::Result) {
    if (std::error_code ec = verify_value(root->message_as_Result()->value(), limits.values)) return fail(ec);
  }
  return FrameView(root, frame);
}

ConstBytes args_of(const wire::Submit& submit) noexcept { return bytes_of_vector(submit.args()); }
ConstBytes value_of(const wire::Result& result) noexcept { return bytes_of_vector(result.value()); }
ConstBytes bytes_of(const wire::ModuleTransfer& transfer) noexcept { return bytes_of_vector(transfer.bytes()); }

}  // namespace rfarm::farm

// Frame decoding, as pure functions over bytes (a fuzz target calls them directly):
//
//   split_frame(input)   where the first frame of a byte stream ends: need more bytes, one frame of n bytes,
//                        or a broken stream (a length of 0, a length past the maximum). Looks at the length prefix
//                        only, so an oversized frame is refused before its bytes arrive.
//   decode_frame(frame)  verifies one whole frame (prefix included) and gives a typed view of it: the FlatBuffers
//                        verifier (bounded depth and table count), the length prefix against the frame's size, the
//                        file identifier, a known message type, and every FlexBuffer it carries (Submit.args,
//                        Result.value) with verify_flexbuffer. Nothing of a frame is used before it passes.
//
//     FrameSplit s = split_frame(bytes, limits);
//     if (s.status == SplitStatus::frame) {
//       auto view = decode_frame(bytes.first(s.size), limits);   // Result<FrameView>
//       if (!view) close_with_reason(view.error());               // FarmErrc::frame_unverifiable, value_too_deep...
//       else if (auto* submit = view->as<wire::Submit>()) run(submit->task_id(), args_of(*submit));
//     }
//
// decode_frame needs the frame at an 8-byte aligned address (FarmErrc::frame_misaligned otherwise): it is read in
// place. FrameReader (frame_reader.hpp) buffers a stream and keeps frames aligned.
#pragma once

#include <cstddef>
#include <system_error>

#include "farm/protocol/wire.hpp"
#include "farm/values/flex_verifier.hpp"
#include "lib/bytes.hpp"
#include "lib/error.hpp"

namespace rfarm::farm {

struct FrameLimits {
  // The largest frame accepted, length prefix included (capped at kMaxFrameSizeLimit).
  std::size_t max_frame_size = kDefaultMaxFrameSize;
  // Nesting of FlatBuffers tables and vectors, and tables per frame: farm.fbs needs 4 and a handful.
  unsigned max_table_depth = 8;
  unsigned max_tables = 64;
  // For the FlexBuffer values frames carry.
  FlexLimits values = {};
};

enum class SplitStatus { need_more, frame, error };

struct FrameSplit {
  SplitStatus status = SplitStatus::need_more;
  // frame: the frame's size, prefix included. need_more: the bytes the frame needs in all, once the prefix is
  // known (else kFramePrefixSize).
  std::size_t size = 0;
  std::error_code error;  // error: FarmErrc::frame_empty or frame_too_large
};

FrameSplit split_frame(ConstBytes input, const FrameLimits& limits = {}) noexcept;

// A verified frame; views into the bytes decode_frame was given.
class FrameView {
 public:
  FrameView(const wire::Frame* frame, ConstBytes bytes) noexcept : frame_(frame), bytes_(bytes) {}

  wire::Message type() const noexcept { return frame_->message_type(); }
  // The message if it is a T, else nullptr: view.as<wire::Submit>().
  template <class T>
  const T* as() const noexcept {
    return type() == wire::MessageTraits<T>::enum_value ? static_cast<const T*>(frame_->message()) : nullptr;
  }
  const wire::Frame& frame() const noexcept { return *frame_; }
  ConstBytes bytes() const noexcept { return bytes_; }

 private:
  const wire::Frame* frame_;
  ConstBytes bytes_;
};

Result<FrameView> decode_frame(ConstBytes frame, const FrameLimits& limits = {}) noexcept;

// The FlexBuffer bytes a message carries (empty when absent), for invoke_task and decode_value.
ConstBytes args_of(const wire::Submit& submit) noexcept;
ConstBytes value_of(const wire::Result& result) noexcept;
ConstBytes bytes_of(const wire::ModuleTransfer& transfer) noexcept;

}  // namespace rfarm::farm

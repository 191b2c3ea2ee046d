// farm/protocol: the frame codec on arbitrary bytes, the way a server meets them.
//  * split_frame + decode_frame over the input (copied to an 8-byte aligned buffer, as decode_frame requires):
//    every field of a frame that passed verification is read in full (strings, vectors, the FlexBuffer values
//    as JSON), so a verifier that lets anything out of bounds through is caught by AddressSanitizer;
//  * the carried bytes (Submit.args, Result.value, ModuleTransfer.bytes) lie inside the frame;
//  * FrameReader, fed the same bytes in pieces whose sizes come from the input, gives the same frames (and the
//    same first error) as splitting the whole input: its buffering and realignment change nothing.
#include <flatbuffers/flexbuffers.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>
#include <vector>

#include "farm/protocol/frame_codec.hpp"
#include "farm/values/json.hpp"
#include "test/fuzz/fuzz_check.hpp"

namespace {

namespace farm = rfarm::farm;
namespace wire = rfarm::farm::wire;

// Keeps the optimiser from dropping reads whose only purpose is to be checked by ASan.
volatile std::size_t sink;

template <class V>
void touch(const V* v) {
  if (v == nullptr) return;
  std::size_t sum = 0;
  for (auto x : *v) sum += static_cast<std::size_t>(x);
  sink = sink + sum;
}

void touch(const flatbuffers::String* s) {
  if (s != nullptr) sink = sink + std::string(s->string_view()).size();
}

void touch_value(rfarm::ConstBytes bytes, rfarm::ConstBytes frame) {
  if (bytes.empty()) return;
  FUZZ_CHECK(bytes.data() >= frame.data() && bytes.data() + bytes.size() <= frame.data() + frame.size(),
             "carried bytes lie inside the frame");
  auto root = flexbuffers::GetRoot(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  sink = sink + farm::to_json(root).size();
}

// Reads every field of a verified frame.
void walk(const farm::FrameView& view) {
  const rfarm::ConstBytes frame = view.bytes();
  if (auto* m = view.as<wire::Hello>()) {
    touch(m->client_name());
    touch(m->auth_token());
  } else if (auto* m = view.as<wire::Welcome>()) {
    touch(m->reason());
    touch(m->server_version());
  } else if (auto* m = view.as<wire::Submit>()) {
    touch(m->task());
    touch_value(farm::args_of(*m), frame);
  } else if (auto* m = view.as<wire::Result>()) {
    touch_value(farm::value_of(*m), frame);
  } else if (auto* m = view.as<wire::Failure>()) {
    touch(m->message());
    touch(m->task());
  } else if (auto* m = view.as<wire::EndServer>()) {
    touch(m->reason());
  } else if (auto* m = view.as<wire::ModuleTransfer>()) {
    touch(m->name());
    rfarm::ConstBytes b = farm::bytes_of(*m);
    FUZZ_CHECK(b.empty() || (b.data() >= frame.data() && b.data() + b.size() <= frame.data() + frame.size()),
               "module bytes lie inside the frame");
    touch(m->bytes());
  } else if (auto* m = view.as<wire::ModuleAck>()) {
    touch(m->module_name());
    touch(m->message());
    if (m->tasks() != nullptr)
      for (auto* s : *m->tasks()) touch(s);
  }
}

// One frame's outcome: its size and whether it decoded (else the error), for comparing the two paths.
struct Outcome {
  std::size_t size = 0;
  std::error_code error;
  bool operator==(const Outcome&) const = default;
};

// The reference path: split the whole input, decode each frame from an aligned copy.
std::vector<Outcome> split_all(rfarm::ConstBytes input, const farm::FrameLimits& limits) {
  std::vector<Outcome> out;
  std::vector<std::uint64_t> aligned;
  while (!input.empty()) {
    farm::FrameSplit s = farm::split_frame(input, limits);
    if (s.status == farm::SplitStatus::need_more) break;
    if (s.status == farm::SplitStatus::error) {
      FUZZ_CHECK(s.error, "a split error says why");
      out.push_back({0, s.error});
      break;
    }
    FUZZ_CHECK(s.size >= farm::kFramePrefixSize && s.size <= input.size() && s.size <= limits.max_frame_size,
               "a split frame lies inside the input and the limit");
    aligned.assign((s.size + 7) / 8, 0);
    std::memcpy(aligned.data(), input.data(), s.size);
    rfarm::ConstBytes frame(reinterpret_cast<const std::byte*>(aligned.data()), s.size);
    auto view = farm::decode_frame(frame, limits);
    if (view) {
      FUZZ_CHECK(view->bytes().data() == frame.data() && view->bytes().size() == frame.size(),
                 "the view covers the frame");
      walk(*view);
      out.push_back({s.size, {}});
    } else {
      out.push_back({s.size, view.error()});
      break;  // a server closes the connection here, as the reader gives up
    }
    input = input.subspan(s.size);
  }
  return out;
}

std::vector<Outcome> read_in_pieces(rfarm::ConstBytes input, const farm::FrameLimits& limits,
                                    std::uint8_t piece_seed) {
  std::vector<Outcome> out;
  farm::FrameReader reader(limits, 64);
  std::size_t offset = 0;
  std::size_t step = 1 + piece_seed % 61;
  while (offset < input.size()) {
    std::size_t n = std::min(step, input.size() - offset);
    reader.append(input.subspan(offset, n));
    offset += n;
    step = 1 + (step * 7 + piece_seed) % 97;
    for (;;) {
      std::size_t before = reader.buffered();
      auto frame = reader.next();
      if (!frame) {
        // A split error has no frame size; a decode error's frame is the bytes it consumed or held.
        out.push_back({0, frame.error()});
        return out;
      }
      if (!*frame) break;
      FUZZ_CHECK(reinterpret_cast<std::uintptr_t>((*frame)->bytes().data()) % 8 == 0, "frames come out aligned");
      FUZZ_CHECK((*frame)->bytes().size() <= before, "a frame was buffered");
      walk(**frame);
      out.push_back({(*frame)->bytes().size(), {}});
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  farm::FrameLimits limits;
  // Small limits in some runs, so the size and depth refusals are reached.
  if (data[0] & 1) {
    limits.max_frame_size = 64 + data[0] * 4;
    limits.max_table_depth = 1 + data[0] % 8;
    limits.values.max_depth = 1 + data[0] % 16;
    limits.values.expansion_factor = 1 + data[0] % 8;
  }
  const rfarm::ConstBytes input(reinterpret_cast<const std::byte*>(data + 2), size - 2);
  std::vector<Outcome> reference = split_all(input, limits);
  std::vector<Outcome> pieces = read_in_pieces(input, limits, data[1]);
  // The reader reports a bad frame's error without its size: compare sizes of good frames, and errors.
  for (auto& o : reference)
    if (o.error) o.size = 0;
  FUZZ_CHECK(pieces == reference, "FrameReader in pieces gives what splitting the whole input gives");
  return 0;
}

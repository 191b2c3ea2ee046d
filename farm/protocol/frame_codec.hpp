// The farm's frame codec: the encoder (frame_encoder.hpp), the pure decoding functions (frame_decoder.hpp) and the
// stream-side buffer (frame_reader.hpp). farm/PROTOCOL.md describes the bytes.
#pragma once

#include "farm/protocol/frame_decoder.hpp"  // IWYU pragma: export
#include "farm/protocol/frame_encoder.hpp"  // IWYU pragma: export
#include "farm/protocol/frame_reader.hpp"   // IWYU pragma: export
#include "farm/protocol/wire.hpp"           // IWYU pragma: export

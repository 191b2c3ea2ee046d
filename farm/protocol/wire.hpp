// The generated FlatBuffers code for farm.fbs (namespace rfarm::farm::wire), plus what ties it to the rest of the
// farm: the protocol's constants and the check that the wire's FailureKind numbers are the task layer's.
#pragma once

#include <cstddef>
#include <cstdint>

#include "farm/protocol/farm_generated.h"
#include "farm/tasks/task_outcome.hpp"

namespace rfarm::farm {

// Version 1: the schema in farm.fbs as first published.
inline constexpr std::uint32_t kProtocolVersion = 1;

// The largest frame (length prefix included) a peer accepts unless configured otherwise.
inline constexpr std::size_t kDefaultMaxFrameSize = 64u << 20;
// FlatBuffers' own limit (offsets are signed 32-bit): no configured maximum may exceed it.
inline constexpr std::size_t kMaxFrameSizeLimit = (std::size_t{1} << 31) - 1;
// [u32 little-endian length][FlatBuffer]
inline constexpr std::size_t kFramePrefixSize = 4;
// Frames are decoded in place, at 8-byte aligned addresses (their 8-byte scalars and FlexBuffer values are then
// aligned too); every frame this library writes is a multiple of 8 bytes long, so back-to-back frames stay aligned.
inline constexpr std::size_t kFrameAlignment = 8;

inline constexpr std::uint64_t feature_bit(wire::Feature f) noexcept { return static_cast<std::uint64_t>(f); }
// Everything this build implements at the protocol level.
inline constexpr std::uint64_t kAllFeatures = feature_bit(wire::Feature::ANY);

inline constexpr wire::FailureKind to_wire(FailureKind kind) noexcept { return static_cast<wire::FailureKind>(kind); }
// Unknown numbers (from a newer peer) read as server_error.
inline constexpr FailureKind from_wire(wire::FailureKind kind) noexcept {
  return kind <= wire::FailureKind::MAX && kind != wire::FailureKind::none ? static_cast<FailureKind>(kind)
                                                                           : FailureKind::server_error;
}

static_assert(static_cast<int>(wire::FailureKind::unknown_task) == static_cast<int>(FailureKind::unknown_task));
static_assert(static_cast<int>(wire::FailureKind::bad_arguments) == static_cast<int>(FailureKind::bad_arguments));
static_assert(static_cast<int>(wire::FailureKind::task_error) == static_cast<int>(FailureKind::task_error));
static_assert(static_cast<int>(wire::FailureKind::deadline_exceeded) ==
              static_cast<int>(FailureKind::deadline_exceeded));
static_assert(static_cast<int>(wire::FailureKind::cancelled) == static_cast<int>(FailureKind::cancelled));
static_assert(static_cast<int>(wire::FailureKind::overloaded) == static_cast<int>(FailureKind::overloaded));
static_assert(static_cast<int>(wire::FailureKind::server_error) == static_cast<int>(FailureKind::server_error));
static_assert(static_cast<int>(wire::FailureKind::module_error) == static_cast<int>(FailureKind::module_error));
static_assert(static_cast<int>(wire::FailureKind::protocol_error) == static_cast<int>(FailureKind::protocol_error));
static_assert(wire::FailureKind::MAX == wire::FailureKind::protocol_error, "a new FailureKind needs a check here");

}  // namespace rfarm::farm

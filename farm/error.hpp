// Errors of the farm layer. FarmErrc codes live in their own category and map onto portable std::errc
// conditions where one fits, like rfarm::Errc:
//     if (ec == rfarm::farm::FarmErrc::frame_too_large) ...   // or: ec == std::errc::message_size
//
// Most farm failures must reach a person (a client's exception text, a server log line) with the detail that
// makes them fixable: which argument, which task, what dlopen said. farm::Error is a code plus that sentence;
// FarmResult<T> is the Result of calls whose failures carry one:
//     FarmResult<LoadedModule> m = LoadedModule::open(path);
//     if (!m) log.warn("{}", m.error().message);              // "libx.so: no rfarm_module_entry ..."
//     if (!m && m.error().code == FarmErrc::abi_mismatch) ...
#pragma once

#include <expected>
#include <string>
#include <system_error>
#include <utility>

namespace rfarm::farm {

enum class FarmErrc : int {
  ok = 0,
  // Values (farm/values/).
  type_mismatch,        // a value of another kind than the one asked for: "expected integer, got string"
  out_of_range,         // the right kind but it does not fit: 300 into uint8
  missing_field,        // a record (map) lacks a field the reader needs
  value_malformed,      // a FlexBuffer whose structure is invalid (offsets, sizes, types out of bounds)
  value_too_deep,       // a FlexBuffer nested deeper than the limit
  value_too_expansive,  // a FlexBuffer whose shared references expand far past its size
  value_misaligned,     // a FlexBuffer scalar not aligned to its width in memory
  value_unencodable,    // a C++ value FlexBuffers cannot hold (a map key with a NUL byte)
  value_keys_unordered, // a FlexBuffers map whose keys are not strictly ascending (unsorted or repeated)
  // Tasks (farm/tasks/).
  invalid_task_name,    // empty, too long, or holding whitespace or control characters
  task_exists,          // a second task of the same name
  // Modules (farm/tasks/module_*).
  module_open_failed,   // dlopen refused the file (dlerror() in the message)
  no_entry_point,       // the library exports no rfarm_module_entry
  abi_mismatch,         // built against another module ABI or another rfarm / FlatBuffers / compiler ABI
  module_invalid,       // the entry point's task table is malformed (null entries, bad names, duplicates)
  name_collision,       // a module task has the name of a task already registered
  hash_mismatch,        // shipped bytes whose SHA-256 is not the one announced
  unsafe_module_store,  // the store directory is a symlink, not ours, or open to other users
  invalid_module_name,  // a module name hint with a '/', a NUL, a leading '.', or too long
  // Frames (farm/protocol/).
  frame_empty,          // a length prefix of 0
  frame_too_large,      // a length prefix above the negotiated maximum frame size
  frame_unverifiable,   // the FlatBuffers verifier rejected the frame
  frame_misaligned,     // a frame not at an 8-byte aligned address (FrameReader realigns)
  unknown_message,      // a frame whose message type this build does not know, or none
  handshake_refused,    // the server answered Hello with a refusal (Welcome.reason says why)
};

const std::error_category& farm_category() noexcept;

inline std::error_code make_error_code(FarmErrc e) noexcept { return {static_cast<int>(e), farm_category()}; }

// A failure with the sentence that explains it. `message` is complete on its own (it need not be combined with
// code.message()).
struct Error {
  std::error_code code;
  std::string message;
};

template <class T>
using FarmResult = std::expected<T, Error>;

// return fail_with(FarmErrc::task_exists, "a task named 'add' is already registered");
inline std::unexpected<Error> fail_with(FarmErrc code, std::string message) {
  return std::unexpected(Error{make_error_code(code), std::move(message)});
}
inline std::unexpected<Error> fail_with(std::error_code code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

}  // namespace rfarm::farm

template <>
struct std::is_error_code_enum<rfarm::farm::FarmErrc> : std::true_type {};

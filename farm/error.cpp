#include "farm/error.hpp"

#include <string>

namespace rfarm::farm {
namespace {

class FarmCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rfarm.farm"; }

  std::string message(int value) const override {
    switch (static_cast<FarmErrc>(value)) {
      case FarmErrc::ok: return "success";
      case FarmErrc::type_mismatch: return "value of the wrong type";
      case FarmErrc::out_of_range: return "value out of range for its type";
      case FarmErrc::missing_field: return "record lacks a field";
      case FarmErrc::value_malformed: return "malformed FlexBuffer value";
      case FarmErrc::value_too_deep: return "FlexBuffer value nested too deeply";
      case FarmErrc::value_too_expansive: return "FlexBuffer value expands far past its size (shared references)";
      case FarmErrc::value_misaligned: return "FlexBuffer scalar not aligned to its width";
      case FarmErrc::value_unencodable: return "value cannot be encoded as a FlexBuffer";
      case FarmErrc::value_keys_unordered:
        return "FlexBuffer map keys not in strictly ascending order (unsorted or repeated): a lookup would miss fields";
      case FarmErrc::invalid_task_name: return "invalid task name";
      case FarmErrc::task_exists: return "a task of that name is already registered";
      case FarmErrc::module_open_failed: return "cannot load the module library";
      case FarmErrc::no_entry_point: return "the library is not an rfarm task module (no rfarm_module_entry)";
      case FarmErrc::abi_mismatch: return "the module was built against another rfarm module ABI";
      case FarmErrc::module_invalid: return "the module's task table is malformed";
      case FarmErrc::name_collision: return "a module task has the name of a registered task";
      case FarmErrc::hash_mismatch: return "module bytes do not match their announced SHA-256";
      case FarmErrc::unsafe_module_store: return "unsafe module store directory";
      case FarmErrc::invalid_module_name: return "invalid module name";
      case FarmErrc::frame_empty: return "frame of length 0";
      case FarmErrc::frame_too_large: return "frame larger than the maximum frame size";
      case FarmErrc::frame_unverifiable: return "frame failed FlatBuffers verification";
      case FarmErrc::frame_misaligned: return "frame not 8-byte aligned in memory";
      case FarmErrc::unknown_message: return "frame carries an unknown message type";
      case FarmErrc::handshake_refused: return "the server refused the connection";
    }
    return "unknown farm error";
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<FarmErrc>(value)) {
      case FarmErrc::type_mismatch:
      case FarmErrc::missing_field:
      case FarmErrc::value_unencodable:
      case FarmErrc::invalid_task_name:
      case FarmErrc::invalid_module_name: return std::errc::invalid_argument;
      case FarmErrc::out_of_range: return std::errc::result_out_of_range;
      case FarmErrc::value_malformed:
      case FarmErrc::value_too_deep:
      case FarmErrc::value_too_expansive:
      case FarmErrc::value_misaligned:
      case FarmErrc::value_keys_unordered:
      case FarmErrc::frame_empty:
      case FarmErrc::frame_unverifiable:
      case FarmErrc::frame_misaligned:
      case FarmErrc::unknown_message:
      case FarmErrc::hash_mismatch: return std::errc::bad_message;
      case FarmErrc::handshake_refused: return std::errc::connection_refused;
      case FarmErrc::frame_too_large: return std::errc::message_size;
      case FarmErrc::task_exists:
      case FarmErrc::name_collision: return std::errc::file_exists;
      case FarmErrc::abi_mismatch: return std::errc::not_supported;
      case FarmErrc::unsafe_module_store: return std::errc::permission_denied;
      default: return {value, *this};
    }
  }
};

}  // namespace

const std::error_category& farm_category() noexcept {
  static const FarmCategory category;  // immutable after construction
  return category;
}

}  // namespace rfarm::farm

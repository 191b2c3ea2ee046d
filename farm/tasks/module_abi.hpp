// The binary interface between a task module (a shared library of RFARM_TASK definitions) and the server that
// loads it. A module exports one C symbol, rfarm_module_entry, which returns a pointer to constant data:
//
//     extern "C" const rfarm_module_v1* rfarm_module_entry();   // RFARM_MODULE("name") defines it
//
// The loader checks three things before it touches anything else:
//  * abi_version == RFARM_MODULE_ABI_VERSION: the shape of rfarm_module_v1 and of TaskEntry;
//  * struct_size >= sizeof(rfarm_module_v1): a module from an older, shorter struct is refused cleanly;
//  * layout_fingerprint == module_layout_fingerprint(): the module's tasks are called with C++ objects
//    (TaskContext, Args, flexbuffers::Builder, std::string in TaskOutcome) whose layout must match the server's.
//    The fingerprint mixes their sizes and alignments with the FlatBuffers version and the C++ library ABI, so a
//    module built against another rfarm, FlatBuffers or libstdc++ ABI is refused instead of crashing.
#pragma once

#include <cstdint>
#include <string>

#include "farm/tasks/task_entry.hpp"

// Bump when rfarm_module_v1 or TaskEntry change shape or meaning.
#define RFARM_MODULE_ABI_VERSION 1u

extern "C" {

struct rfarm_module_v1 {
  std::uint32_t abi_version;         // RFARM_MODULE_ABI_VERSION
  std::uint32_t struct_size;         // sizeof(rfarm_module_v1) as the module saw it
  std::uint64_t layout_fingerprint;  // rfarm::farm::module_layout_fingerprint() as the module saw it
  const char* name;                  // the module's name, RFARM_MODULE's argument
  const rfarm::farm::TaskEntry* const* tasks_begin;  // [begin, end): pointers to the module's tasks
  const rfarm::farm::TaskEntry* const* tasks_end;
};

using rfarm_module_entry_fn = const rfarm_module_v1* (*)();

}  // extern "C"

namespace rfarm::farm {

inline constexpr const char* kModuleEntrySymbol = "rfarm_module_entry";

namespace detail {
constexpr std::uint64_t fnv1a_mix(std::uint64_t hash, std::uint64_t value) noexcept {
  for (int i = 0; i < 8; ++i) {
    hash ^= (value >> (8 * i)) & 0xFF;
    hash *= 0x100000001b3ull;
  }
  return hash;
}
}  // namespace detail

// See above: equal in the module and the server if and only if the objects they exchange agree in layout.
constexpr std::uint64_t module_layout_fingerprint() noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const std::uint64_t facts[] = {
      RFARM_MODULE_ABI_VERSION,
      sizeof(rfarm_module_v1), sizeof(TaskEntry),
      sizeof(TaskContext), alignof(TaskContext),
      sizeof(TaskOutcome), alignof(TaskOutcome),
      sizeof(Args), alignof(Args),
      sizeof(flexbuffers::Builder), alignof(flexbuffers::Builder),
      sizeof(flexbuffers::Reference),
      sizeof(std::string),
      FLATBUFFERS_VERSION_MAJOR, FLATBUFFERS_VERSION_MINOR, FLATBUFFERS_VERSION_REVISION,
#if defined(__GXX_ABI_VERSION)
      __GXX_ABI_VERSION,
#endif
#if defined(_GLIBCXX_USE_CXX11_ABI)
      _GLIBCXX_USE_CXX11_ABI,
#endif
  };
  for (std::uint64_t fact : facts) h = detail::fnv1a_mix(h, fact);
  return h;
}

}  // namespace rfarm::farm

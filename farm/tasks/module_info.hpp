// What is known about a loaded task module: what `info` reports for each, as a record
// {"name", "sha256", "source", "tasks"}.
#pragma once

#include <string>
#include <vector>

#include "farm/values/map_traits.hpp"
#include "farm/values/sequence_traits.hpp"
#include "farm/values/text_traits.hpp"

namespace rfarm::farm {

struct ModuleInfo {
  std::string name;                // as the module declares it: RFARM_MODULE("example_tasks")
  std::string sha256;              // of the library's bytes, lowercase hex
  std::string source;              // where it came from: the file loaded with --module, or the sender's name for it
  std::vector<std::string> tasks;  // the names it registered, sorted

  friend bool operator==(const ModuleInfo&, const ModuleInfo&) = default;
};

template <>
struct ValueTraits<ModuleInfo> {
  static void write(flexbuffers::Builder& b, const ModuleInfo& m) {
    b.Map([&] {
      write_field(b, "name", m.name);
      write_field(b, "sha256", m.sha256);
      write_field(b, "source", m.source);
      write_field(b, "tasks", m.tasks);
    });
  }
  static ReadResult<ModuleInfo> read(flexbuffers::Reference r) {
    return read_record<ModuleInfo, std::string, std::string, std::string, std::vector<std::string>>(
        r, "name", "sha256", "source", "tasks");
  }
};

}  // namespace rfarm::farm

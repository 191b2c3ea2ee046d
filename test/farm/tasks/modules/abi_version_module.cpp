// A module from a future rfarm: its descriptor announces another ABI version (and nothing after that may be trusted).
#include "farm/tasks/module_abi.hpp"

extern "C" [[gnu::visibility("default")]] const rfarm_module_v1* rfarm_module_entry() {
  static const rfarm_module_v1 module{999, sizeof(rfarm_module_v1), 0, "future", nullptr, nullptr};
  return &module;
}

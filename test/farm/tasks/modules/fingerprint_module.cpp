// A module built against another layout of the objects tasks receive (another rfarm, FlatBuffers or libstdc++).
#include "farm/tasks/module_abi.hpp"

extern "C" [[gnu::visibility("default")]] const rfarm_module_v1* rfarm_module_entry() {
  static const rfarm_module_v1 module{RFARM_MODULE_ABI_VERSION, sizeof(rfarm_module_v1),
                                      rfarm::farm::module_layout_fingerprint() ^ 1, "elsewhere", nullptr, nullptr};
  return &module;
}

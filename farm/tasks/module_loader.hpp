// LoadedModule: a task module opened with dlopen(RTLD_NOW | RTLD_LOCAL) and checked against this build's module
// ABI (module_abi.hpp). RTLD_NOW: a module with an unresolved symbol fails here, with dlerror's text, not at the
// first call of a task. RTLD_LOCAL: two modules may define the same internal symbols without interfering.
//
//     FarmResult<LoadedModule> m = LoadedModule::open("/var/lib/rfarm/modules/3fa9....so");
//     if (!m) return m.error();              // module_open_failed, no_entry_point, abi_mismatch, module_invalid
//     registry.add_entries(m->tasks(), "module " + std::string(m->name()));
//
// The library stays loaded until the LoadedModule goes (dlclose); the registry entries made from it point into
// it, so a server keeps its modules for as long as it keeps its registry (ModuleStore does).
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "farm/error.hpp"
#include "farm/tasks/module_abi.hpp"
#include "farm/tasks/task_entry.hpp"

namespace rfarm::farm {

// The checks open() makes on a module's descriptor, on their own (tests feed them hand-made descriptors).
FarmResult<void> check_module_descriptor(const rfarm_module_v1* module);

class LoadedModule {
 public:
  static FarmResult<LoadedModule> open(const std::string& path);

  LoadedModule(LoadedModule&& other) noexcept;
  LoadedModule& operator=(LoadedModule&& other) noexcept;
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;
  ~LoadedModule();

  std::string_view name() const noexcept { return module_->name; }
  std::span<const TaskEntry* const> tasks() const noexcept {
    return {module_->tasks_begin, static_cast<std::size_t>(module_->tasks_end - module_->tasks_begin)};
  }
  const std::string& path() const noexcept { return path_; }

 private:
  LoadedModule(void* handle, const rfarm_module_v1* module, std::string path) noexcept
      : handle_(handle), module_(module), path_(std::move(path)) {}

  void* handle_ = nullptr;
  const rfarm_module_v1* module_ = nullptr;
  std::string path_;
};

}  // namespace rfarm::farm

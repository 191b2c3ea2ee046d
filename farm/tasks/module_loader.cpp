#include "farm/tasks/module_loader.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <set>
#include <utility>

#include "farm/tasks/task_registry.hpp"

namespace rfarm::farm {

FarmResult<void> check_module_descriptor(const rfarm_module_v1* module) {
  if (!module) return fail_with(FarmErrc::module_invalid, "rfarm_module_entry returned no descriptor");
  if (module->abi_version != RFARM_MODULE_ABI_VERSION)
    return fail_with(FarmErrc::abi_mismatch,
                     fmt::format("the module was built for rfarm module ABI version {}; this server loads version {}",
                                 module->abi_version, RFARM_MODULE_ABI_VERSION));
  if (module->struct_size < sizeof(rfarm_module_v1))
    return fail_with(FarmErrc::abi_mismatch, fmt::format("the module's descriptor has {} bytes, this server needs {}",
                                                         module->struct_size, sizeof(rfarm_module_v1)));
  if (module->layout_fingerprint != module_layout_fingerprint())
    return fail_with(FarmErrc::abi_mismatch,
                     fmt::format("the module was built against another rfarm, FlatBuffers or C++ library ABI (layout "
                                 "fingerprint {:#018x}, this server's is {:#018x}): rebuild it against this rfarm",
                                 module->layout_fingerprint, module_layout_fingerprint()));
  if (!module->name || !*module->name) return fail_with(FarmErrc::module_invalid, "the module has no name");
  bool no_table = !module->tasks_begin && !module->tasks_end;
  if (!no_table && (!module->tasks_begin || !module->tasks_end || module->tasks_end < module->tasks_begin))
    return fail_with(FarmErrc::module_invalid, fmt::format("module '{}' has a malformed task table", module->name));
  std::set<std::string_view> names;
  for (auto p = module->tasks_begin; p != module->tasks_end; ++p) {
    const TaskEntry* entry = *p;
    if (!entry || !entry->name || !entry->invoke)
      return fail_with(FarmErrc::module_invalid, fmt::format("module '{}' has a malformed task entry", module->name));
    if (auto valid = check_task_name(entry->name); !valid)
      return fail_with(FarmErrc::module_invalid, fmt::format("module '{}': {}", module->name, valid.error().message));
    if (!names.insert(entry->name).second)
      return fail_with(FarmErrc::module_invalid,
                       fmt::format("module '{}' defines the task '{}' twice", module->name, entry->name));
  }
  return {};
}

FarmResult<LoadedModule> LoadedModule::open(const std::string& path) {
  // A path without a '/' would make dlopen search the library path; a module is always a file we name.
  std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return fail_with(FarmErrc::module_open_failed,
                     fmt::format("cannot load {}: {}", path, why ? why : "dlopen failed"));
  }
  ::dlerror();  // clear: dlsym reports through it
  void* symbol = ::dlsym(handle, kModuleEntrySymbol);
  if (!symbol) {
    ::dlclose(handle);
    return fail_with(FarmErrc::no_entry_point,
                     fmt::format("{} is not an rfarm task module: it exports no {} (did its sources use RFARM_MODULE?)",
                                 path, kModuleEntrySymbol));
  }
  auto entry = reinterpret_cast<rfarm_module_entry_fn>(symbol);
  const rfarm_module_v1* module = entry();
  if (auto ok = check_module_descriptor(module); !ok) {
    ::dlclose(handle);
    return fail_with(ok.error().code, fmt::format("{}: {}", path, ok.error().message));
  }
  return LoadedModule(handle, module, path);
}

LoadedModule::LoadedModule(LoadedModule&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      module_(std::exchange(other.module_, nullptr)),
      path_(std::move(other.path_)) {}

LoadedModule& LoadedModule::operator=(LoadedModule&& other) noexcept {
  if (this != &other) {
    if (handle_) ::dlclose(handle_);
    handle_ = std::exchange(other.handle_, nullptr);
    module_ = std::exchange(other.module_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

LoadedModule::~LoadedModule() {
  if (handle_) ::dlclose(handle_);
}

}  // namespace rfarm::farm

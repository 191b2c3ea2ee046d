// ModuleStore: where a server keeps the task modules it loads, by content. The analogue of lfarm's
// (broadcast-task #'ql:quickload :my-stuff): a client ships a module's bytes to every server, each stores them as
// <sha256>.so in its store directory and loads them once; shipping the same bytes again is a no-op.
//
//     auto store = ModuleStore::open("/var/lib/rfarm/modules").value();       // created 0700 if missing
//     auto got = store.install(registry, bytes, "libmytasks.so");            // FarmResult<InstalledModule>
//     if (got && !got->newly_loaded) ...                                     // those bytes were loaded before
//     store.install_file(registry, "./libmytasks.so");                       // farm-server --module
//
// Safety: the directory must be a real directory (not a symlink) owned by this user and closed to others
// (mode 0700 or stricter); the store refuses it otherwise, since whoever can write there can run code in the
// server. Each module is written to a temporary file (0600), flushed, and renamed to <sha256>.so, so a reader never
// sees half a module; the file loaded is the one whose bytes were hashed (install_file copies into the store
// rather than dlopen the caller's path, which could change between hashing and loading).
//
// A module whose task names collide with registered tasks is refused whole, and its file removed. Modules stay
// loaded until the store goes: destroy it after the last use of the registry it filled. Not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "farm/error.hpp"
#include "farm/tasks/module_info.hpp"
#include "farm/tasks/module_loader.hpp"
#include "farm/tasks/task_registry.hpp"
#include "lib/bytes.hpp"
#include "reactor/net/unique_fd.hpp"

namespace rfarm::farm {

struct InstalledModule {
  ModuleInfo info;
  bool newly_loaded = false;  // false: these bytes were already loaded, nothing changed
};

class ModuleStore {
 public:
  static FarmResult<ModuleStore> open(const std::string& directory);

  ModuleStore(ModuleStore&&) noexcept = default;
  ModuleStore& operator=(ModuleStore&&) noexcept = default;
  ~ModuleStore() = default;

  // Stores and loads library (a module's bytes) and registers its tasks. `source` names where it came from
  // (the sender's file name; informational, but refused if it holds a '/' or a NUL, starts with '.', or passes
  // 255 bytes). With expected_sha256 (64 lowercase hex digits) the bytes must hash to it (hash_mismatch).
  FarmResult<InstalledModule> install(TaskRegistry& registry, ConstBytes library, std::string_view source = {},
                                      std::string_view expected_sha256 = {});
  // Reads the file at path and installs its bytes (source: the file name).
  FarmResult<InstalledModule> install_file(TaskRegistry& registry, const std::string& path);

  // Adds the tasks of every loaded module, in load order, to registry: how a server builds a fresh, immutable
  // task table around the modules it has (then install()s the next module into that table).
  FarmResult<void> register_loaded(TaskRegistry& registry) const;

  bool contains(std::string_view sha256) const noexcept;
  // Loaded modules, in load order.
  const std::vector<ModuleInfo>& modules() const noexcept { return infos_; }
  const std::string& directory() const noexcept { return directory_; }

 private:
  ModuleStore(std::string directory, UniqueFd fd) noexcept : directory_(std::move(directory)), dir_fd_(std::move(fd)) {}

  FarmResult<std::string> write_atomically(const std::string& file_name, ConstBytes bytes);

  std::string directory_;  // absolute
  UniqueFd dir_fd_;
  std::vector<LoadedModule> loaded_;  // loaded_[i] is the library infos_[i] describes
  std::vector<ModuleInfo> infos_;
};

}  // namespace rfarm::farm

#include "farm/tasks/module_store.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "farm/tasks/content_hash.hpp"

namespace rfarm::farm {
namespace {

std::string errno_text(int err) { return std::error_code(err, std::system_category()).message(); }

FarmResult<void> check_source_name(std::string_view source) {
  if (source.empty()) return {};
  if (source.size() > 255 || source.front() == '.' || source.find('/') != std::string_view::npos ||
      source.find('\0') != std::string_view::npos)
    return fail_with(FarmErrc::invalid_module_name,
                     fmt::format("module name '{}' must be a plain file name (no '/', no NUL, no leading '.', at most "
                                 "255 bytes)",
                                 source.substr(0, std::min<std::size_t>(source.size(), 64))));
  return {};
}

FarmResult<std::vector<std::byte>> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_with(std::error_code(errno, std::system_category()),
                            fmt::format("cannot open {}: {}", path, errno_text(errno)));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return fail_with(std::make_error_code(std::errc::invalid_argument), fmt::format("{} is not a regular file", path));
  std::vector<std::byte> bytes(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_with(std::error_code(errno, std::system_category()),
                                fmt::format("cannot read {}: {}", path, errno_text(errno)));
    if (n == 0) break;  // shrank while we read
    done += static_cast<std::size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

}  // namespace

FarmResult<ModuleStore> ModuleStore::open(const std::string& directory) {
  if (directory.empty()) return fail_with(FarmErrc::unsafe_module_store, "the module store directory is empty");
  if (::mkdir(directory.c_str(), 0700) != 0 && errno != EEXIST)
    return fail_with(std::error_code(errno, std::system_category()),
                     fmt::format("cannot create the module store {}: {}", directory, errno_text(errno)));
  // O_NOFOLLOW: the directory itself must not be a symlink (someone else could repoint it).
  UniqueFd fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ELOOP || err == ENOTDIR)
      return fail_with(FarmErrc::unsafe_module_store,
                       fmt::format("the module store {} is a symlink or not a directory", directory));
    return fail_with(std::error_code(err, std::system_category()),
                     fmt::format("cannot open the module store {}: {}", directory, errno_text(err)));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return fail_with(std::error_code(errno, std::system_category()), fmt::format("cannot stat {}", directory));
  if (st.st_uid != ::geteuid())
    return fail_with(FarmErrc::unsafe_module_store,
                     fmt::format("the module store {} belongs to uid {}, not to this server's uid {}", directory,
                                 st.st_uid, ::geteuid()));
  if ((st.st_mode & 077) != 0)
    return fail_with(FarmErrc::unsafe_module_store,
                     fmt::format("the module store {} is open to other users (mode {:04o}); it must be 0700",
                                 directory, st.st_mode & 07777));
  char resolved[PATH_MAX];
  if (!::realpath(directory.c_str(), resolved))
    return fail_with(std::error_code(errno, std::system_category()), fmt::format("cannot resolve {}", directory));
  return ModuleStore(resolved, std::move(fd));
}

bool ModuleStore::contains(std::string_view sha256) const noexcept {
  return std::any_of(infos_.begin(), infos_.end(), [&](const ModuleInfo& m) { return m.sha256 == sha256; });
}

FarmResult<std::string> ModuleStore::write_atomically(const std::string& file_name, ConstBytes bytes) {
  std::string temp = directory_ + "/.incoming-XXXXXX";
  UniqueFd fd(::mkostemp(temp.data(), O_CLOEXEC));  // mode 0600
  if (!fd) return fail_with(std::error_code(errno, std::system_category()),
                            fmt::format("cannot create a file in {}: {}", directory_, errno_text(errno)));
  auto discard = [&](int err, std::string_view what) {
    ::unlink(temp.c_str());
    return fail_with(std::error_code(err, std::system_category()),
                     fmt::format("cannot {} {}: {}", what, temp, errno_text(err)));
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return discard(errno, "write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return discard(errno, "flush");
  std::string temp_name = temp.substr(directory_.size() + 1);
  if (::renameat(dir_fd_.get(), temp_name.c_str(), dir_fd_.get(), file_name.c_str()) != 0)
    return discard(errno, "rename");
  return directory_ + "/" + file_name;
}

FarmResult<InstalledModule> ModuleStore::install(TaskRegistry& registry, ConstBytes library, std::string_view source,
                                                 std::string_view expected_sha256) {
  if (auto ok = check_source_name(source); !ok) return std::unexpected(ok.error());
  auto sha256 = sha256_hex(library);
  if (!sha256) return fail_with(sha256.error(), "cannot hash the module");
  if (!expected_sha256.empty() && expected_sha256 != *sha256)
    return fail_with(FarmErrc::hash_mismatch,
                     fmt::format("module {} has SHA-256 {}, not the announced {}", source, *sha256, expected_sha256));
  for (const ModuleInfo& m : infos_)
    if (m.sha256 == *sha256) return InstalledModule{m, false};

  std::string file_name = *sha256 + ".so";
  auto path = write_atomically(file_name, library);
  if (!path) return std::unexpected(path.error());
  auto remove_file = [&] { ::unlinkat(dir_fd_.get(), file_name.c_str(), 0); };

  auto module = LoadedModule::open(*path);
  if (!module) {
    remove_file();
    return std::unexpected(module.error());
  }
  std::string origin = fmt::format("module {}", module->name());
  if (auto added = registry.add_entries(module->tasks(), origin); !added) {
    remove_file();
    return std::unexpected(added.error());
  }
  ModuleInfo info{std::string(module->name()), *sha256, std::string(source), {}};
  for (const TaskEntry* entry : module->tasks()) info.tasks.emplace_back(entry->name);
  std::sort(info.tasks.begin(), info.tasks.end());
  loaded_.push_back(std::move(*module));
  infos_.push_back(info);
  return InstalledModule{std::move(info), true};
}

FarmResult<void> ModuleStore::register_loaded(TaskRegistry& registry) const {
  for (const LoadedModule& module : loaded_)
    if (auto added = registry.add_entries(module.tasks(), fmt::format("module {}", module.name())); !added) return added;
  return {};
}

FarmResult<InstalledModule> ModuleStore::install_file(TaskRegistry& registry, const std::string& path) {
  auto bytes = read_file(path);
  if (!bytes) return std::unexpected(bytes.error());
  std::string_view base = path;
  if (auto slash = base.rfind('/'); slash != std::string_view::npos) base.remove_prefix(slash + 1);
  return install(registry, *bytes, base);
}

}  // namespace rfarm::farm

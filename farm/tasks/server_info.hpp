// ServerInfo: what a farm server tells the built-in `info` task about itself. The server implements it; the task
// reaches it through TaskContext::server(). `info` may run on any worker thread, so an implementation must be
// safe to call from several threads at once (atomics for counters, a snapshot for the module list).
//
//     class FakeServer final : public ServerInfo { ... };   // a test's
//     FakeServer server;
//     TaskContext context({.server = &server});
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "farm/tasks/module_info.hpp"

namespace rfarm::farm {

class ServerInfo {
 public:
  virtual ~ServerInfo() = default;

  virtual std::string version() const = 0;                // "0.1.0"
  virtual unsigned cores() const = 0;                     // CPUs the server may use
  virtual unsigned workers() const = 0;                   // threads that run blocking tasks
  virtual std::vector<ModuleInfo> modules() const = 0;    // loaded modules, in load order
  virtual std::chrono::milliseconds uptime() const = 0;   // since the server started
  virtual std::uint64_t tasks_run() const = 0;            // tasks finished, successfully or not
};

}  // namespace rfarm::farm

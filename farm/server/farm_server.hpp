// FarmServer: the farm's server as a library object, embeddable in any program that has a Runtime. It listens
// on tcp:, tls: and unix: endpoints, serves each client on one of the runtime's cores (ServerConnection), runs
// tasks inline on that core or on the runtime's workers (offload), and answers info about itself.
//
//     auto runtime = Runtime::create({.threads = 2, .workers = 2}).value();
//     auto server = farm::FarmServer::create(*runtime, {}).value();
//     runtime->start();
//     auto bound = server->listen_blocking(EndpointSpec::parse("tcp:127.0.0.1:0").value());   // tcp:127.0.0.1:40123
//     runtime->join();   // until SIGTERM (drained), end-server (the last connection closed) or runtime->stop()
//
// end-server (a client's EndServer, or end_server()) stops accepting on every listener; connections already
// open go on, and the runtime is stopped when the last of them closes (lfarm's semantics). SIGTERM is the
// runtime's graceful shutdown: listeners stop, connections stop reading new tasks (a Submit then gets an
// `overloaded` failure: it did not start, submit it elsewhere), tasks in flight finish and their answers are
// sent, then each connection closes; what is left at the runtime's shutdown deadline is closed.
//
// Threads: create() and listen_blocking() from a thread that is not a core; listen() on a core; end_server(),
// connections(), and the ServerInfo calls from anywhere. Destroy the runtime first (its teardown ends what
// connections and tasks are left, and they refer to the server), then the server.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <future>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "farm/error.hpp"
#include "farm/server/core_state.hpp"
#include "farm/server/server_options.hpp"
#include "farm/tasks/module_store.hpp"
#include "farm/tasks/server_info.hpp"
#include "lib/task.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/runtime/runtime.hpp"
#include "reactor/runtime/sharded_listener.hpp"
#include "reactor/tls/tls_stream.hpp"

namespace rfarm::farm {

struct PeerIdentity;

class FarmServer final : public ServerInfo {
 public:
  // Registers the built-in tasks and options.register_tasks' own, loads options.modules (the error names the
  // module that failed). The runtime must outlive the server.
  static FarmResult<std::unique_ptr<FarmServer>> create(Runtime& runtime, FarmServerOptions options);
  FarmServer(const FarmServer&) = delete;
  FarmServer& operator=(const FarmServer&) = delete;
  ~FarmServer() override;

  // Listens on spec (tcp:, tls: with options.tls, unix:), connections spread over every core; -> the bound
  // endpoint (port 0 replaced by the port the kernel chose). Await it on a core of the runtime.
  Task<Result<EndpointSpec>> listen(EndpointSpec spec);
  // listen() on core 0, waited for from a thread that is not a core (the runtime running).
  Result<EndpointSpec> listen_blocking(const EndpointSpec& spec, Duration timeout = std::chrono::seconds(10));

  // end-server: stop accepting everywhere; the runtime stops once no connection is left. Any thread.
  void end_server(std::string_view reason);
  bool ending() const noexcept { return ending_.load(std::memory_order_acquire); }
  // Client connections open now, on every core.
  std::size_t connections() const noexcept { return live_connections_.load(std::memory_order_acquire); }

  const FarmServerOptions& options() const noexcept { return options_; }
  Runtime& runtime() const noexcept { return runtime_; }

  // ServerInfo (the built-in info task).
  std::string version() const override { return options_.version; }
  unsigned cores() const override { return runtime_.core_count(); }
  unsigned workers() const override;
  std::vector<ModuleInfo> modules() const override;
  std::chrono::milliseconds uptime() const override;
  std::uint64_t tasks_run() const override;

  // A module a client shipped (ModuleTransfer): checked against sha256, stored, loaded, and its tasks published
  // to every core in a new table. Blocking (file writes, dlopen): call it on a worker. The caller's core should
  // take the returned table at once (publish), so that its client's next Submit sees the new tasks.
  struct ModuleInstall {
    InstalledModule module;
    std::shared_ptr<const TaskRegistry> table;  // null when those bytes were loaded before: nothing changed
    std::uint64_t version = 0;
  };
  FarmResult<ModuleInstall> install_module(ConstBytes library, std::string_view source, std::string_view sha256);

  // For ServerConnection (the connection's core only).
  detail::CoreState& core_state(unsigned core) noexcept { return *core_states_[core]; }
  void connection_opened() noexcept { live_connections_.fetch_add(1, std::memory_order_acq_rel); }
  void connection_closed() noexcept;
  // The features a client with this identity is granted: cancel and deadlines to every client, modules only to
  // authenticated ones, and only with accept_modules.
  std::uint64_t features_for(const PeerIdentity& peer) const noexcept;
  // After a TLS handshake: authenticated if the certificate's subject is allowed, else refused with why.
  PeerIdentity identify_tls_peer(const TlsStream& stream) const;

 private:
  FarmServer(Runtime& runtime, FarmServerOptions options);
  FarmResult<void> load_tasks();
  // The built-ins and options.register_tasks' own: the base of every task table.
  FarmResult<void> register_base_tasks(TaskRegistry& registry) const;
  static Task<void> listen_and_report(FarmServer* server, EndpointSpec spec,
                                      std::shared_ptr<std::promise<Result<EndpointSpec>>> done);
  void accept(StreamSocket socket, Transport transport);
  PeerIdentity identify_unix_peer(const StreamSocket& socket) const;

  Runtime& runtime_;
  FarmServerOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<detail::CoreState>> core_states_;  // [core]

  // The control side (cold, under control_mutex_): the registry tables are made from, the module store.
  mutable std::mutex control_mutex_;
  std::unique_ptr<ModuleStore> module_store_;
  std::string private_module_dir_;  // made by create() when options.module_dir was empty; removed at the end
  std::vector<ShardedListener> listeners_;
  std::uint64_t table_version_ = 1;  // of the newest task table

  std::atomic<std::size_t> live_connections_{0};
  std::atomic<bool> ending_{false};
};

}  // namespace rfarm::farm

#include "farm/server/farm_server.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "farm/protocol/wire.hpp"
#include "farm/server/server_connection.hpp"
#include "farm/tasks/builtin_tasks.hpp"
#include "reactor/net/fd_passing.hpp"

namespace rfarm::farm {

FarmServer::FarmServer(Runtime& runtime, FarmServerOptions options) : runtime_(runtime), options_(std::move(options)) {
  core_states_.reserve(runtime_.core_count());
  for (unsigned c = 0; c < runtime_.core_count(); ++c)
    core_states_.push_back(std::make_unique<detail::CoreState>(options_.frames.max_frame_size));
}

FarmServer::~FarmServer() {
  module_store_.reset();
  if (!private_module_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(private_module_dir_, ignored);
  }
}

FarmResult<std::unique_ptr<FarmServer>> FarmServer::create(Runtime& runtime, FarmServerOptions options) {
  if (options.frames.max_frame_size < 64 || options.frames.max_frame_size > kMaxFrameSizeLimit)
    return fail_with(FarmErrc::frame_too_large, "the maximum frame size must be between 64 bytes and 2 GiB - 1");
  std::unique_ptr<FarmServer> server(new FarmServer(runtime, std::move(options)));
  if (auto loaded = server->load_tasks(); !loaded) return std::unexpected(loaded.error());
  return server;
}

FarmResult<void> FarmServer::register_base_tasks(TaskRegistry& registry) const {
  if (auto added = register_builtin_tasks(registry); !added) return added;
  if (options_.register_tasks)
    if (auto added = options_.register_tasks(registry); !added) return added;
  return {};
}

FarmResult<void> FarmServer::load_tasks() {
  auto registry = std::make_shared<TaskRegistry>();
  if (auto added = register_base_tasks(*registry); !added) return added;
  if (!options_.modules.empty() || options_.accept_modules) {
    std::string directory = options_.module_dir;
    if (directory.empty()) {
      const char* base = std::getenv("XDG_RUNTIME_DIR");
      std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/rfarm-modules-XXXXXX";
      if (::mkdtemp(pattern.data()) == nullptr)
        return fail_with(FarmErrc::unsafe_module_store, "cannot make a module directory " + pattern + ": " +
                                                            std::generic_category().message(errno));
      directory = private_module_dir_ = pattern;
    }
    auto store = ModuleStore::open(directory);
    if (!store) return std::unexpected(store.error());
    module_store_ = std::make_unique<ModuleStore>(std::move(*store));
    for (const std::string& path : options_.modules) {
      auto installed = module_store_->install_file(*registry, path);
      if (!installed) return fail_with(FarmErrc::module_open_failed, "module " + path + ": " + installed.error().message);
    }
  }
  std::shared_ptr<const TaskRegistry> table = std::move(registry);
  for (auto& core : core_states_) core->publish(table, table_version_);  // before any core runs
  return {};
}

FarmResult<FarmServer::ModuleInstall> FarmServer::install_module(ConstBytes library, std::string_view source,
                                                                 std::string_view sha256) {
  std::lock_guard lock(control_mutex_);
  if (!module_store_) return fail_with(FarmErrc::module_open_failed, "this server has no module store");
  // A fresh table: the base tasks, every module loaded so far, then the new one (refused whole on a collision).
  auto registry = std::make_shared<TaskRegistry>();
  if (auto added = register_base_tasks(*registry); !added) return std::unexpected(added.error());
  if (auto added = module_store_->register_loaded(*registry); !added) return std::unexpected(added.error());
  auto installed = module_store_->install(*registry, library, source, sha256);
  if (!installed) return std::unexpected(installed.error());
  ModuleInstall result{std::move(*installed), nullptr, 0};
  if (!result.module.newly_loaded) return result;
  result.table = std::move(registry);
  result.version = ++table_version_;
  for (unsigned c = 0; c < runtime_.core_count(); ++c)
    runtime_.post(c, [this, c, table = result.table, version = result.version] { core_states_[c]->publish(table, version); });
  return result;
}

Task<Result<EndpointSpec>> FarmServer::listen(EndpointSpec spec) {
  if (!is_stream_transport(spec.transport)) co_return fail(std::make_error_code(std::errc::invalid_argument));
  if (spec.transport == Transport::tls && !options_.tls) co_return fail(std::make_error_code(std::errc::invalid_argument));
  ShardedListenOptions listen_options;
  if (spec.transport == Transport::unix_stream) {
    // One socket file: one acceptor handing connections round robin to the cores.
    listen_options.distribution = ConnectionDistribution::round_robin;
    listen_options.listen.bind.unix_mode = options_.socket_mode;
  }
  const Transport transport = spec.transport;
  auto listener = co_await ShardedListener::listen(runtime_, spec.address, listen_options,
                                                   [this, transport](StreamSocket socket) { accept(std::move(socket), transport); });
  if (!listener) co_return fail(listener.error());
  EndpointSpec bound{transport, listener->local_address()};
  {
    std::lock_guard lock(control_mutex_);
    listeners_.push_back(*listener);
  }
  if (ending()) listener->close();  // end-server raced this listen
  co_return bound;
}

Task<void> FarmServer::listen_and_report(FarmServer* server, EndpointSpec spec,
                                         std::shared_ptr<std::promise<Result<EndpointSpec>>> done) {
  done->set_value(co_await server->listen(std::move(spec)));
}

Result<EndpointSpec> FarmServer::listen_blocking(const EndpointSpec& spec, Duration timeout) {
  auto done = std::make_shared<std::promise<Result<EndpointSpec>>>();
  auto answer = done->get_future();
  runtime_.post(0, [this, spec, done] { this_reactor().spawn(listen_and_report(this, spec, done)); });
  if (answer.wait_for(timeout) != std::future_status::ready) return fail(std::make_error_code(std::errc::timed_out));
  return answer.get();
}

void FarmServer::accept(StreamSocket socket, Transport transport) {
  if (ending()) return;  // accepted while end-server closed the listeners: the socket closes here
  detail::CoreState& core = core_state(this_core());
  switch (transport) {
    case Transport::tls: {
      auto tls = TlsStream::server(std::move(socket), *options_.tls);
      if (!tls) {
        this_reactor().log().warn("farm-server: cannot start TLS on a connection: {}", tls.error().message());
        return;
      }
      auto connection = std::make_shared<detail::ServerConnection<TlsStream>>(*this, core, std::move(*tls), PeerIdentity{});
      this_reactor().spawn(detail::ServerConnection<TlsStream>::serve(std::move(connection)));
      return;
    }
    case Transport::unix_stream: {
      PeerIdentity peer = identify_unix_peer(socket);
      auto connection = std::make_shared<detail::ServerConnection<StreamSocket>>(*this, core, std::move(socket), std::move(peer));
      this_reactor().spawn(detail::ServerConnection<StreamSocket>::serve(std::move(connection)));
      return;
    }
    default: {
      auto connection = std::make_shared<detail::ServerConnection<StreamSocket>>(*this, core, std::move(socket), PeerIdentity{});
      this_reactor().spawn(detail::ServerConnection<StreamSocket>::serve(std::move(connection)));
      return;
    }
  }
}

PeerIdentity FarmServer::identify_unix_peer(const StreamSocket& socket) const {
  auto credentials = socket.get<option::PeerCredentials>();
  if (!credentials) return {false, "cannot read the peer's credentials: " + credentials.error().message()};
  const uid_t uid = credentials->uid();
  if (!options_.allowed_uids.empty()) {
    if (std::ranges::find(options_.allowed_uids, uid) != options_.allowed_uids.end()) return {true, {}};
    return {false, "uid " + std::to_string(uid) + " is not allowed on this socket"};
  }
  // No list: the socket file's mode decides who connects; the server's own user counts as authenticated.
  return {uid == ::geteuid(), {}};
}

PeerIdentity FarmServer::identify_tls_peer(const TlsStream& stream) const {
  auto certificate = stream.peer_certificate();
  if (!certificate) return {false, "a client certificate is required"};
  if (options_.allow_any_subject) return {true, {}};
  if (std::ranges::find(options_.allowed_subjects, certificate->subject_text) != options_.allowed_subjects.end())
    return {true, {}};
  return {false, "certificate subject '" + certificate->subject_text + "' is not allowed"};
}

std::uint64_t FarmServer::features_for(const PeerIdentity& peer) const noexcept {
  const std::uint64_t always = feature_bit(wire::Feature::cancel) | feature_bit(wire::Feature::deadlines);
  return always | (options_.accept_modules && peer.authenticated ? feature_bit(wire::Feature::modules) : 0);
}

void FarmServer::end_server(std::string_view reason) {
  if (ending_.exchange(true)) return;
  if (Runtime* here = this_runtime(); here != nullptr)
    this_reactor().log().info("farm-server: end-server{}{}: no new connections", reason.empty() ? "" : ": ", reason);
  std::vector<ShardedListener> listeners;
  {
    std::lock_guard lock(control_mutex_);
    listeners = listeners_;
  }
  for (ShardedListener& listener : listeners) listener.close();
  if (live_connections_.load() == 0) runtime_.stop();
}

void FarmServer::connection_closed() noexcept {
  if (live_connections_.fetch_sub(1) == 1 && ending_.load()) runtime_.stop();
}

unsigned FarmServer::workers() const {
  return runtime_.options().workers != 0 ? runtime_.options().workers : runtime_.core_count();
}

std::vector<ModuleInfo> FarmServer::modules() const {
  std::lock_guard lock(control_mutex_);
  return module_store_ ? module_store_->modules() : std::vector<ModuleInfo>{};
}

std::chrono::milliseconds FarmServer::uptime() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started_);
}

std::uint64_t FarmServer::tasks_run() const {
  std::uint64_t sum = 0;
  for (const auto& core : core_states_) sum += core->tasks_run.load(std::memory_order_relaxed);
  return sum;
}

}  // namespace rfarm::farm

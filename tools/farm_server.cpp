// farm-server: runs farm tasks for clients (farm/server/farm_server.hpp is the library it wraps).
//
//   farm-server [--listen tcp:127.0.0.1:11111]... [--threads N] [--workers N] [--log-level error|warn|info|debug]
//   farm-server --listen tls:0.0.0.0:11111 --tls-cert F --tls-key F --tls-ca F --allow-subject "CN=client"
//   farm-server --listen unix:/run/farm/farm.sock [--socket-mode 0600] [--allow-uid UID]... [--accept-modules]
//   farm-server --module ./libmytasks.so ...
//
// The first line on stdout names every bound endpoint, space-separated, in SPEC form. SIGTERM (or SIGINT)
// drains the tasks in flight and exits 0; a second one exits at once. A client's end-server stops accepting;
// the process exits 0 when the last connection closes. Exit status: 1 could not serve (a port taken, a TLS
// file or module that cannot be used), 2 usage error (tools/cli.hpp). The command line: farm_server_options.cpp.
#include <cstdio>
#include <string>

#include "farm/server/farm_server.hpp"
#include "tools/farm_server_options.hpp"
#include "tools/process.hpp"

using namespace rfarm;

namespace {

int failed(const std::string& message) { return tools::report_failure("farm-server", message); }

}  // namespace

int main(int argc, char** argv) {
  auto command = tools::parse_farm_server_command(argc, argv);
  if (!command) return command.error();
  bool any_tls = false;
  for (const EndpointSpec& spec : command->listen) any_tls = any_tls || spec.transport == Transport::tls;
  if (any_tls) {
    TlsContextOptions base;
    base.verify = TlsVerify::require_peer;  // client certificates are required (farm/README.md, Security)
    auto context = tools::make_tls_context(tools::TlsRole::server, command->tls, base);
    if (!context) return failed(context.error());
    command->server.tls = std::move(*context);
  }

  auto runtime = Runtime::create(command->runtime);
  if (!runtime) return failed("cannot start the runtime: " + runtime.error().message());
  auto server = farm::FarmServer::create(**runtime, std::move(command->server));
  if (!server) return failed(server.error().message);
  if (std::error_code ec = (*runtime)->start()) return failed("cannot start the runtime: " + ec.message());

  std::string bound_line;
  for (const EndpointSpec& spec : command->listen) {
    auto bound = (*server)->listen_blocking(spec);
    if (!bound) {
      (*runtime)->stop();
      (*runtime)->join();
      return failed("listen on " + spec.to_string() + ": " + bound.error().message());
    }
    if (!bound_line.empty()) bound_line += ' ';
    bound_line += bound->to_string();
  }
  std::printf("%s\n", bound_line.c_str());
  std::fflush(stdout);
  (*runtime)->join();  // SIGTERM's drain, end-server's last connection, or a second signal (_exit)
  runtime->reset();    // before the server: connections still held by the cores end with the runtime
  return tools::kExitSuccess;
}

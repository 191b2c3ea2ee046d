// farm-server's command line (tools/cli.hpp conventions), kept apart from the serving in farm_server.cpp.
#pragma once

#include <expected>
#include <vector>

#include "farm/server/server_options.hpp"
#include "reactor/net/endpoint.hpp"
#include "reactor/runtime/runtime.hpp"
#include "tools/tls_options.hpp"

namespace rfarm::tools {

struct FarmServerCommand {
  std::vector<EndpointSpec> listen{};  // --listen, repeated; default tcp:127.0.0.1:11111
  RuntimeOptions runtime{};            // --threads, --workers, --backend, --spin-us, --log-level
  TlsFiles tls{};                      // --tls-cert, --tls-key, --tls-ca (tls: listeners)
  farm::FarmServerOptions server{};    // everything else
};

// The options argv asks for, or the status to exit with: help or version printed (0), or a usage error
// printed as one line on stderr (2).
std::expected<FarmServerCommand, int> parse_farm_server_command(int argc, char** argv);

// Whether address is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.y.z): plaintext is allowed there.
bool is_loopback(const Address& address) noexcept;

}  // namespace rfarm::tools

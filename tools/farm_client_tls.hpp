// The client side of TLS for the farm tools (farm, farm-admin): --tls-cert, --tls-key and --tls-ca with the
// names, checks and messages of echo-client's, made into the FarmTlsOptions a Kernel or farm-admin call takes.
//
//     tools::TlsFiles files;
//     tools::TlsFileOptions tls = tools::add_tls_file_options(app, files, tools::TlsRole::client);
//     ...parse...
//     auto made = tools::farm_client_tls(tls, files, specs);   // a usage error, a runtime error, or the options
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "farm/client/farm_stream.hpp"
#include "reactor/net/endpoint.hpp"
#include "tools/cli.hpp"
#include "tools/tls_options.hpp"

namespace rfarm::tools {

struct FarmTlsProblem {
  bool usage = false;  // true: a usage error (exit 2); false: a file that does not work (exit 1)
  std::string message;
};

// For servers specs: with a tls: server, the context from files (the option and file at fault in the message);
// without one, any --tls-* option given is a usage error.
inline std::expected<farm::FarmTlsOptions, FarmTlsProblem> farm_client_tls(const TlsFileOptions& options,
                                                                        const TlsFiles& files,
                                                                        const std::vector<std::string>& servers) {
  bool any_tls = false;
  for (const std::string& text : servers) {
    auto spec = EndpointSpec::parse_connect(text);
    any_tls = any_tls || (spec && spec->transport == Transport::tls);
  }
  if (!any_tls) {
    for (CLI::Option* option : {options.certificate, options.key, options.ca})
      if (option->count() > 0)
        return std::unexpected(FarmTlsProblem{true, option->get_name() + " is only for a tls: server"});
    return farm::FarmTlsOptions{};
  }
  auto made = make_tls_context(TlsRole::client, files, {});
  if (!made) return std::unexpected(FarmTlsProblem{false, made.error()});
  farm::FarmTlsOptions tls;
  tls.context = std::move(*made);
  return tls;
}

}  // namespace rfarm::tools

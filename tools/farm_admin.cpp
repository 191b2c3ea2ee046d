// farm-admin: lfarm's administration commands for a farm-server (farm/admin/admin.hpp is the library).
//
//   farm-admin ping HOST PORT [--timeout S]    keeps trying for S seconds (default 3); exit 0 if it answered, 1 if not
//   farm-admin ping SPEC                        SPEC: tcp:HOST:PORT, HOST:PORT, tls:HOST:PORT, unix:PATH
//   --tls-cert FILE --tls-key FILE --tls-ca FILE  for tls: (the server requires a client certificate)
//   farm-admin end-server HOST PORT|SPEC        the server stops accepting and exits when its last connection closes
//   farm-admin info HOST PORT|SPEC              the server's info task, as JSON on stdout
//
// Exit status: 0 done, 1 the server did not answer or refused (the reason on stderr), 2 usage error.
#include <cstdio>
#include <string>
#include <vector>

#include "farm/admin/admin.hpp"
#include "tools/cli.hpp"
#include "tools/farm_client_tls.hpp"

using namespace rfarm;

namespace {

constexpr const char* kTool = "farm-admin";

// HOST PORT, or one SPEC.
std::string endpoint_of(const std::vector<std::string>& where) {
  if (where.size() == 2) {
    bool ipv6 = where[0].find(':') != std::string::npos;
    return "tcp:" + (ipv6 ? "[" + where[0] + "]" : where[0]) + ":" + where[1];
  }
  return where.empty() ? std::string() : where[0];
}

void add_where(CLI::App& command, std::vector<std::string>& where) {
  command.add_option("where", where, "HOST PORT (lfarm's form), or one SPEC: tcp:HOST:PORT, HOST:PORT, tls:HOST:PORT, unix:PATH")
      ->type_name("HOST PORT|SPEC")
      ->expected(1, 2)
      ->required();
}

}  // namespace

int main(int argc, char** argv) {
  tools::CommandLine cli(kTool, "Pings, inspects or ends a farm-server (lfarm's ping / end-server).");
  CLI::App& app = cli.app();
  app.require_subcommand(1);
  app.fallthrough();
  std::vector<std::string> where;
  double timeout_s = 3.0;

  CLI::App* ping = app.add_subcommand("ping", "Ask the server whether it is there; keep trying for --timeout seconds");
  add_where(*ping, where);
  CLI::App* end = app.add_subcommand("end-server", "Stop the server accepting; it exits when its last connection closes");
  add_where(*end, where);
  CLI::App* info = app.add_subcommand("info", "Print the server's info (version, cores, workers, modules) as JSON");
  add_where(*info, where);
  for (CLI::App* c : {ping, end, info})
    c->add_option("--timeout", timeout_s, "Seconds to wait for an answer (default 3)")
        ->type_name("S")
        ->check(CLI::PositiveNumber);

  tools::TlsFiles tls_files;
  tools::TlsFileOptions tls_options = tools::add_tls_file_options(app, tls_files, tools::TlsRole::client);
  tls_options.certificate->needs(tls_options.key);
  tls_options.key->needs(tls_options.certificate);

  cli.add_reactor_options();
  if (auto status = cli.parse(argc, argv)) return *status;
  std::string spec = endpoint_of(where);
  if (auto parsed = EndpointSpec::parse_connect(spec); !parsed)
    return cli.usage_error("endpoint '" + spec + "': " + parsed.error().message());
  auto tls = tools::farm_client_tls(tls_options, tls_files, {spec});
  if (!tls) return tls.error().usage ? cli.usage_error(tls.error().message) : tools::report_failure(kTool, tls.error().message);

  farm::admin::AdminOptions options;
  options.timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(timeout_s));
  options.backend = cli.reactor_options().backend;
  options.tls = std::move(*tls);

  if (ping->parsed()) {
    auto reply = farm::admin::ping(spec, options);
    if (!reply) return tools::report_failure(kTool, "ping " + spec + ": " + reply.error().message);
    std::printf("%s: farm-server %s (%u cores, %u workers) answered in %lld us\n", spec.c_str(),
                reply->server_version.c_str(), reply->cores, reply->workers,
                static_cast<long long>(reply->round_trip.count() / 1000));
    return tools::kExitSuccess;
  }
  if (end->parsed()) {
    auto ended = farm::admin::end_server(spec, options);
    if (!ended) return tools::report_failure(kTool, "end-server " + spec + ": " + ended.error().message);
    std::printf("%s: end-server sent\n", spec.c_str());
    return tools::kExitSuccess;
  }
  auto text = farm::admin::info(spec, options);
  if (!text) return tools::report_failure(kTool, "info " + spec + ": " + text.error().message);
  std::printf("%s\n", text->c_str());
  return tools::kExitSuccess;
}

// The command-line conventions every rfarm tool follows, on CLI11:
//
//   --help       usage on stdout, exit 0                  --version   "NAME rfarm VERSION" on stdout, exit 0
//   usage error  ONE line on stderr naming the option or variable at fault, then how to get help; exit 2
//                (unknown option, a bad value, a missing option, a bad RFARM_BACKEND or RFARM_LOG)
//   failure      "NAME: what: why" on stderr, exit 1 (cannot listen, connect, read a file, ...)
//
// and the options of every tool that runs a reactor: --backend, --spin-us, --log-level, with the help footer
// describing RFARM_BACKEND and RFARM_LOG, the environment variables behind them.
//
//     tools::CommandLine cli("echo-client", "Sends messages through an echo server and checks them.");
//     cli.app().add_option("--conns", conns, "connections")->check(tools::positive_integer());
//     cli.add_reactor_options();
//     if (auto status = cli.parse(argc, argv)) return *status;   // help, version or a usage error
//     auto reactor = Reactor::create(cli.reactor_options());
//
// Also here: the options several tools share (endpoints, TLS files). CLI11 is header-only and every
// translation unit that includes this compiles a good part of it (seconds each), so only the files that build
// a command line include it; the exit statuses and report_failure are in tools/process.hpp.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"
#include "tools/process.hpp"
#include "tools/tls_options.hpp"

namespace rfarm::tools {

class CommandLine {
 public:
  CommandLine(std::string name, std::string description);

  CLI::App& app() noexcept { return app_; }
  const std::string& name() const noexcept { return name_; }

  // --backend, --spin-us and --log-level. After parse(), reactor_options() holds them; RFARM_BACKEND and
  // RFARM_LOG are checked there too when the option is not given, so a misspelt value is a usage error
  // rather than a silent default.
  void add_reactor_options();
  const ReactorOptions& reactor_options() const noexcept { return reactor_options_; }

  // Parses argv. nullopt: go on. Otherwise the status to exit with, after printing the help or the version
  // (kExitSuccess) or one usage line (kExitUsage).
  std::optional<int> parse(int argc, char** argv);

  // For checks CLI11 cannot express (options that only make sense together): prints
  // "NAME: message (run 'NAME --help' for usage)" on stderr and returns kExitUsage.
  int usage_error(std::string_view message) const;

 private:
  std::optional<int> finish_reactor_options();

  std::string name_;
  CLI::App app_;
  bool has_reactor_options_ = false;
  std::string backend_text_;
  int spin_us_ = 0;
  std::string log_level_text_;
  ReactorOptions reactor_options_;
};

// Validators whose message names the value and what was wanted, e.g. "abc" is not a positive integer.
// Digits only: "1.5", "0x10", "+3", " 4" are refused too.
CLI::Validator positive_integer();
CLI::Validator integer_in_range(long long lowest, long long highest);

// Endpoint options, checked with EndpointSpec's own parser so the message names the wrong part:
//     --listen "tcp:127.0.0.1:": missing port
//     --connect "udp:127.0.0.1:7": transport udp: is not supported here (only tcp:, tls:, unix:)
enum class EndpointUse { listen, connect };
CLI::Option* add_endpoint_option(CLI::App& app, const std::string& name, EndpointSpec& spec, EndpointUse use,
                                 std::vector<Transport> allowed, const std::string& description);

// --tls-cert, --tls-key and --tls-ca (in the "TLS" group), described for the role; each returned so the
// caller can add its own requirements. make_tls_context (tools/tls_options.hpp) turns the files into a context.
//     tools::TlsFiles files;
//     tools::add_tls_file_options(cli.app(), files, tools::TlsRole::server);
struct TlsFileOptions {
  CLI::Option* certificate;
  CLI::Option* key;
  CLI::Option* ca;
};
TlsFileOptions add_tls_file_options(CLI::App& app, TlsFiles& files, TlsRole role);

}  // namespace rfarm::tools

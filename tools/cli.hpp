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
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reactor/loop/reactor.hpp"
#include "reactor/net/endpoint.hpp"

namespace rfarm::tools {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;  // the command line was fine, the work failed
inline constexpr int kExitUsage = 2;    // the command line (or RFARM_BACKEND / RFARM_LOG) was wrong

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

// A failure at run time: prints "TOOL: message" on stderr and returns kExitFailure, e.g.
//     return tools::report_failure("echo-server", "listen on tcp:127.0.0.1:80: Permission denied");
int report_failure(std::string_view tool, std::string_view message);

// Raises this process's soft limit on open descriptors to its hard limit, as a server that holds one per
// connection must (many shells start programs with a soft limit of 1024). Returns the limit now in force.
std::size_t raise_open_file_limit() noexcept;

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

}  // namespace rfarm::tools

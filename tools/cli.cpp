#include "tools/cli.hpp"

#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "tools/version.hpp"

namespace rfarm::tools {

namespace {

constexpr const char* kFooter = R"(Environment:
  RFARM_BACKEND=epoll|uring|auto
      the I/O backend when --backend is not given (auto, the default: io_uring where the kernel allows it,
      else epoll); any other value is a usage error
  RFARM_LOG=trace|debug|info|warn|error|off
      the log level when --log-level is not given (default warn); log lines go to stderr

Exit status: 0 success, 1 failure, 2 usage error (a bad option or value, or a bad RFARM_BACKEND / RFARM_LOG).)";

constexpr LogLevel kLogLevels[] = {LogLevel::trace, LogLevel::debug, LogLevel::info,
                                   LogLevel::warn,  LogLevel::error, LogLevel::off};

// lib/log.cpp's parse_log_level falls back on anything it does not know; the tools refuse it instead.
std::optional<LogLevel> log_level_named(std::string_view text) {
  for (LogLevel level : kLogLevels) {
    std::string_view name = to_string(level);
    if (name.size() == text.size() &&
        std::equal(name.begin(), name.end(), text.begin(), [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        }))
      return level;
  }
  return std::nullopt;
}

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::optional<long long> parse_integer(std::string_view text) {
  long long value = 0;
  bool digits = !text.empty() && (std::isdigit(static_cast<unsigned char>(text[0])) || text[0] == '-');
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (!digits || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// CLI11's messages start with a capital ("The following argument was not expected: --x"); ours continue
// "NAME: ...". Acronyms ("TLS ...") keep theirs.
std::string one_line(std::string message) {
  for (char& c : message)
    if (c == '\n') c = ' ';
  if (message.size() > 1 && std::isupper(static_cast<unsigned char>(message[0])) &&
      std::islower(static_cast<unsigned char>(message[1])))
    message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
  return message;
}

std::string transport_list(const std::vector<Transport>& allowed) {
  std::string list;
  for (Transport t : allowed) {
    if (!list.empty()) list += ", ";
    list += std::string(to_string(t)) + ":";
  }
  return list;
}

}  // namespace

CommandLine::CommandLine(std::string name, std::string description)
    : name_(std::move(name)), app_(std::move(description), name_) {
  app_.set_version_flag("--version", name_ + " rfarm " RFARM_VERSION, "Print the version and exit");
  app_.set_help_flag("-h,--help", "Print this help and exit");
  app_.footer(kFooter);
  app_.get_formatter()->column_width(34);
}

void CommandLine::add_reactor_options() {
  has_reactor_options_ = true;
  app_.add_option("--backend", backend_text_, "I/O backend (default: RFARM_BACKEND, else auto)")
      ->type_name("epoll|uring|auto")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return parse_backend_kind(text) ? std::string()
                                            : in_quotes(text) + " is not a backend (epoll, uring, auto)";
          },
          "", "backend"));
  app_.add_option("--spin-us", spin_us_, "Latency mode: poll up to N microseconds before sleeping (default 0)")
      ->type_name("N")
      ->check(integer_in_range(0, 1'000'000));
  app_.add_option("--log-level", log_level_text_, "Log level (default: RFARM_LOG, else warn)")
      ->type_name("LEVEL")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            return log_level_named(text)
                       ? std::string()
                       : in_quotes(text) + " is not a log level (trace, debug, info, warn, error, off)";
          },
          "", "log level"));
}

std::optional<int> CommandLine::parse(int argc, char** argv) {
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);  // the help of the subcommand named, if any, on stdout; status 0
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 checks required options before it complains about unknown ones, but a misspelt option
    // ("--lsten") is the cause of the missing one: name it first. (CLI11 2.1 also lists them backwards.)
    if (std::vector<std::string> extras = app_.remaining(true); !extras.empty()) {
      std::string list;
      for (const std::string& arg : extras) list += (list.empty() ? "" : " ") + arg;
      return usage_error((extras.size() == 1 ? "unexpected argument: " : "unexpected arguments: ") + list);
    }
    return usage_error(one_line(e.what()));
  }
  if (has_reactor_options_) return finish_reactor_options();
  return std::nullopt;
}

std::optional<int> CommandLine::finish_reactor_options() {
  if (!backend_text_.empty()) {
    reactor_options_.backend = *parse_backend_kind(backend_text_);
  } else if (const char* env = std::getenv("RFARM_BACKEND"); env != nullptr && *env != '\0') {
    // Reactor::create refuses it as well; said here, it is one line that names the variable.
    if (!parse_backend_kind(env))
      return usage_error(std::string("RFARM_BACKEND=") + env + ": not a backend (epoll, uring, auto)");
  }
  reactor_options_.spin = std::chrono::microseconds(spin_us_);
  if (!log_level_text_.empty()) {
    reactor_options_.log_level = log_level_named(log_level_text_);
  } else if (const char* env = std::getenv("RFARM_LOG"); env != nullptr && *env != '\0') {
    if (!log_level_named(env))
      return usage_error(std::string("RFARM_LOG=") + env + ": not a log level (trace, debug, info, warn, error, off)");
  }
  return std::nullopt;
}

int CommandLine::usage_error(std::string_view message) const {
  std::fprintf(stderr, "%s: %.*s (run '%s --help' for usage)\n", name_.c_str(), static_cast<int>(message.size()),
               message.data(), name_.c_str());
  return kExitUsage;
}

CLI::Validator positive_integer() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        auto value = parse_integer(text);
        return value && *value > 0 && *value <= std::numeric_limits<int>::max()
                   ? std::string()
                   : in_quotes(text) + " is not a positive integer";
      },
      "", "positive integer");
}

CLI::Validator integer_in_range(long long lowest, long long highest) {
  return CLI::Validator(
      [lowest, highest](std::string& text) -> std::string {
        auto value = parse_integer(text);
        if (value && *value >= lowest && *value <= highest) return {};
        return in_quotes(text) + " is not an integer from " + std::to_string(lowest) + " to " + std::to_string(highest);
      },
      "", "integer range");
}

CLI::Option* add_endpoint_option(CLI::App& app, const std::string& name, EndpointSpec& spec, EndpointUse use,
                                 std::vector<Transport> allowed, const std::string& description) {
  auto parse = [use](std::string_view text) {
    return use == EndpointUse::listen ? EndpointSpec::parse(text) : EndpointSpec::parse_connect(text);
  };
  CLI::Validator check(
      [parse, allowed](std::string& text) -> std::string {
        auto parsed = parse(text);
        if (!parsed) return in_quotes(text) + ": " + parsed.error().message();
        if (std::find(allowed.begin(), allowed.end(), parsed->transport) == allowed.end())
          return in_quotes(text) + ": transport " + std::string(to_string(parsed->transport)) +
                 ": is not supported here (only " + transport_list(allowed) + ")";
        return {};
      },
      "", "endpoint");
  return app
      .add_option_function<std::string>(
          name, [&spec, parse](const std::string& text) { spec = *parse(text); }, description)
      ->type_name("ENDPOINT")
      ->check(check);
}

TlsFileOptions add_tls_file_options(CLI::App& app, TlsFiles& files, TlsRole role) {
  bool server = role == TlsRole::server;
  TlsFileOptions o{};
  o.certificate = app.add_option("--tls-cert", files.certificate_file,
                                 server ? "Our certificate chain, PEM, leaf first (tls: only)"
                                        : "A client certificate chain, PEM, for servers that ask for one")
                      ->type_name("FILE")
                      ->group("TLS");
  o.key = app.add_option("--tls-key", files.key_file, "The private key of --tls-cert, PEM")
              ->type_name("FILE")
              ->group("TLS");
  o.ca = app.add_option("--tls-ca", files.ca_file,
                        server ? "Verify client certificates against these CAs (PEM)"
                               : "Verify the server against these CAs (PEM; default: the system's CAs)")
             ->type_name("FILE")
             ->group("TLS");
  return o;
}

}  // namespace rfarm::tools

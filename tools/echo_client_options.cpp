#include "tools/echo_client_options.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "tools/cli.hpp"

namespace rfarm::tools {

namespace {

constexpr double kMaxTimeoutSeconds = 3600;

// Seconds, fractions allowed ("0.5"), above zero.
CLI::Validator positive_seconds() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        double value = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec == std::errc() && end == text.data() + text.size() && value > 0 && value <= kMaxTimeoutSeconds)
          return {};
        return "\"" + text + "\" is not a number of seconds above 0 (at most 3600)";
      },
      "", "seconds");
}

}  // namespace

std::expected<EchoClientOptions, int> parse_echo_client_options(int argc, char** argv) {
  EchoClientOptions o;
  CommandLine cli("echo-client",
                  "Sends messages through an echo server over --conns connections at once, each waiting for its\n"
                  "echo before the next, and checks every byte that comes back. Prints what it verified and the\n"
                  "round-trip percentiles; exits 1 if anything failed or timed out.");
  CLI::App& app = cli.app();
  add_endpoint_option(app, "--connect", o.connect, EndpointUse::connect,
                      {Transport::tcp, Transport::tls, Transport::unix_stream},
                      "The server: tcp:|tls:HOST:PORT, HOST:PORT (tcp), unix:PATH|@NAME\n"
                      "(HOST an IP address or a name: every address it has is tried)")
      ->required();
  app.add_option("--conns", o.conns, "Connections at once (default 1)")->type_name("N")->check(positive_integer());
  app.add_option("--messages", o.messages, "Messages per connection (default 1000)")
      ->type_name("N")
      ->check(positive_integer());
  app.add_option("--size", o.size, "Bytes per message (default 64)")
      ->type_name("BYTES")
      ->check(integer_in_range(1, 64 << 20));
  double timeout_seconds = 5;
  app.add_option("--timeout", timeout_seconds,
                 "Fail a connection whose connect, TLS handshake, a round trip\nor the close takes longer (default 5)")
      ->type_name("SECONDS")
      ->check(positive_seconds());
  TlsFileOptions tls = add_tls_file_options(app, o.tls, TlsRole::client);
  tls.certificate->needs(tls.key);
  tls.key->needs(tls.certificate);
  CLI::Option* insecure =
      app.add_flag("--insecure-skip-verify", o.insecure_skip_verify,
                   "Accept any server certificate, unverified:\nno protection against impostors (testing only)")
          ->group("TLS");
  insecure->excludes(tls.ca);
  cli.add_reactor_options();
  if (auto status = cli.parse(argc, argv)) return std::unexpected(*status);
  o.reactor = cli.reactor_options();
  o.timeout = std::max(std::chrono::milliseconds(1), std::chrono::milliseconds(std::llround(timeout_seconds * 1000)));

  if (o.connect.transport != Transport::tls) {
    for (CLI::Option* option : {tls.certificate, tls.key, tls.ca, insecure})
      if (option->count() > 0)
        return std::unexpected(
            cli.usage_error(option->get_name() + " is only for a tls: server, not --connect " + o.connect.to_string()));
  }
  return o;
}

}  // namespace rfarm::tools

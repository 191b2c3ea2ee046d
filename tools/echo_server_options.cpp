#include "tools/echo_server_options.hpp"

#include "tools/cli.hpp"
#include "tools/echo_server_dgram.hpp"

namespace rfarm::tools {

std::expected<EchoServerOptions, int> parse_echo_server_options(int argc, char** argv) {
  EchoServerOptions o;
  CommandLine cli("echo-server",
                  "Echoes every byte back to its sender (datagrams and records whole); when a peer half-closes,\n"
                  "finishes sending and closes its side. The first line on stdout is the bound endpoint\n"
                  "(tcp:127.0.0.1:40123), so scripts can start it on port 0. SIGINT and SIGTERM stop it cleanly.");
  CLI::App& app = cli.app();
  add_endpoint_option(app, "--listen", o.listen, EndpointUse::listen,
                      {Transport::tcp, Transport::tls, Transport::udp, Transport::unix_stream, Transport::unix_packet},
                      "Where: tcp:|tls:|udp:HOST:PORT, unix:|unixpacket:PATH|@NAME\n"
                      "(HOST an IP address or localhost; PORT 0: any free port)")
      ->required();
  TlsFileOptions tls = add_tls_file_options(app, o.tls.files, TlsRole::server);
  CLI::Option* require = app.add_flag("--require-client-cert", o.tls.require_client_certificate,
                                      "Refuse clients without a certificate from --tls-ca")
                             ->group("TLS");
  require->needs(tls.ca);
  app.add_option("--threads", o.threads,
                     "Reactor cores for tcp:, tls: and unix: (default 0: one per CPU; 1: a single reactor,\n"
                     "no runtime). udp: and unixpacket: serve on one core")
          ->type_name("N")
          ->check(integer_in_range(0, 1024));
  std::string distribution_text;
  CLI::Option* distribution =
      app.add_option("--distribution", distribution_text,
                     "How connections reach cores: reuseport (default; round-robin for unix:),\n"
                     "reuseport-cpu (the core on the CPU that received the packets), round-robin")
          ->type_name("MODE")
          ->check(CLI::Validator(
              [](std::string& text) -> std::string {
                return parse_connection_distribution(text)
                           ? std::string()
                           : '"' + text + "\" is not a distribution (reuseport, reuseport-cpu, round-robin)";
              },
              "", "distribution"));
  std::string style_text;
  CLI::Option* style = app.add_option("--style", style_text,
                                      "How tcp: and unix: connections are served: callback (default: a state\n"
                                      "machine, the least memory per connection) or coroutine (one per connection)")
                           ->type_name("STYLE")
                           ->check(CLI::IsMember({"callback", "coroutine"}));
  cli.add_reactor_options();
  if (auto status = cli.parse(argc, argv)) return std::unexpected(*status);
  o.reactor = cli.reactor_options();

  if (!distribution_text.empty()) o.distribution = *parse_connection_distribution(distribution_text);
  if (style_text == "coroutine") o.style = EchoStyle::coroutine;
  std::string listen = "--listen " + o.listen.to_string();
  if (style->count() > 0 && o.listen.transport != Transport::tcp && o.listen.transport != Transport::unix_stream)
    return std::unexpected(cli.usage_error("--style is for tcp: and unix: listeners, not " + listen));
  if (is_message_transport(o.listen.transport)) {
    if (o.threads > 1)
      return std::unexpected(cli.usage_error("--threads " + std::to_string(o.threads) + " is for stream listeners; " +
                                             listen + " serves on one core"));
    if (distribution->count() > 0)
      return std::unexpected(cli.usage_error("--distribution is for stream listeners, not " + listen));
    o.threads = 1;
  } else if (o.threads == 1 && distribution->count() > 0) {
    return std::unexpected(cli.usage_error("--distribution needs more than one core (--threads 1 given)"));
  } else if (o.listen.transport == Transport::unix_stream && o.distribution &&
             *o.distribution != ConnectionDistribution::round_robin) {
    return std::unexpected(cli.usage_error("--distribution " + distribution_text + " cannot share a Unix path; " +
                                           listen + " takes round-robin"));
  }

  // What CLI11 cannot say alone: TLS options belong to a tls: listener, which needs a certificate and key.
  if (o.listen.transport != Transport::tls) {
    for (CLI::Option* option : {tls.certificate, tls.key, tls.ca, require})
      if (option->count() > 0)
        return std::unexpected(cli.usage_error(option->get_name() + " is only for a tls: listener, not " + listen));
  } else if (o.tls.files.certificate_file.empty() || o.tls.files.key_file.empty()) {
    std::string missing = o.tls.files.certificate_file.empty() && o.tls.files.key_file.empty()
                              ? "--tls-cert and --tls-key"
                          : o.tls.files.certificate_file.empty() ? "--tls-cert"
                                                                 : "--tls-key";
    return std::unexpected(cli.usage_error(listen + " needs " + missing));
  }
  return o;
}

}  // namespace rfarm::tools

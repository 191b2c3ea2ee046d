#include "tools/farm_server_options.hpp"

#include <cstdlib>
#include <string>

#include "tools/cli.hpp"
#include "tools/version.hpp"

namespace rfarm::tools {

bool is_loopback(const Address& address) noexcept {
  auto octets = address.octets();
  if (octets.size() == 4) return octets[0] == 127;
  if (octets.size() != 16) return false;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  bool mapped = std::equal(octets.begin(), octets.begin() + 12, kMapped);
  if (mapped) return octets[12] == 127;
  for (std::size_t i = 0; i < 15; ++i)
    if (octets[i] != 0) return false;
  return octets[15] == 1;
}

namespace {

// "0600", "660": an octal file mode.
CLI::Validator octal_mode() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        if (text.empty() || text.size() > 4 || text.find_first_not_of("01234567") != std::string::npos)
          return "\"" + text + "\" is not an octal file mode (like 0600)";
        return {};
      },
      "", "octal mode");
}

}  // namespace

std::expected<FarmServerCommand, int> parse_farm_server_command(int argc, char** argv) {
  FarmServerCommand o;
  CommandLine cli("farm-server",
                  "Runs farm tasks for clients (an rfarm Kernel, farm-admin). The first line on stdout names every\n"
                  "bound endpoint (tcp:127.0.0.1:40123 unix:/run/farm.sock), so scripts can start it on port 0.\n"
                  "SIGTERM drains the tasks in flight and exits 0; a client's end-server stops accepting and exits\n"
                  "when the last connection closes.");
  CLI::App& app = cli.app();
  std::vector<std::string> listen_texts;
  app.add_option("--listen", listen_texts,
                 "Where (repeatable): tcp:HOST:PORT (a bare HOST:PORT too), tls:HOST:PORT, unix:PATH|@NAME;\n"
                 "PORT 0: any free port (default tcp:127.0.0.1:11111)")
      ->type_name("ENDPOINT")
      ->check(CLI::Validator(
          [](std::string& text) -> std::string {
            auto parsed = EndpointSpec::parse(text);
            if (!parsed) return "\"" + text + "\": " + parsed.error().message();
            if (!is_stream_transport(parsed->transport))
              return "\"" + text + "\": transport " + std::string(to_string(parsed->transport)) +
                     ": is not supported here (only tcp:, tls:, unix:)";
            return {};
          },
          "", "endpoint"));
  app.add_option("--threads", o.runtime.threads, "Reactor cores (default: every CPU this process may use)")
      ->check(integer_in_range(1, 1024));
  app.add_option("--workers", o.runtime.workers, "Worker threads for tasks that block (default: as many as cores)")
      ->check(integer_in_range(1, 4096));
  TlsFileOptions tls = add_tls_file_options(app, o.tls, TlsRole::server);
  CLI::Option* allow_subject =
      app.add_option("--allow-subject", o.server.allowed_subjects,
                     "TLS: a client certificate subject admitted, RFC 2253 text (\"CN=client,O=rfarm\"); repeatable")
          ->group("TLS");
  CLI::Option* allow_any = app.add_flag("--allow-any-subject", o.server.allow_any_subject,
                                        "TLS: admit every client whose certificate --tls-ca verifies")
                               ->group("TLS");
  bool insecure_plaintext = false;
  app.add_flag("--insecure-plaintext", insecure_plaintext,
               "Allow plaintext tcp: on addresses other than loopback (anyone who reaches it runs tasks)");
  std::string socket_mode = "0600";
  app.add_option("--socket-mode", socket_mode, "Mode of unix: socket files (default 0600)")->check(octal_mode());
  std::vector<long long> allow_uids;
  app.add_option("--allow-uid", allow_uids, "unix: a peer uid admitted (SO_PEERCRED); repeatable (default: any)")
      ->check(integer_in_range(0, 4294967294LL));
  app.add_option("--module", o.server.modules, "A task module (shared library) to load at start; repeatable")
      ->check(CLI::ExistingFile);
  CLI::Option* accept_modules = app.add_flag("--accept-modules", o.server.accept_modules,
                                             "Load modules that authenticated clients ship (TLS certificate or unix uid)");
  app.add_option("--module-dir", o.server.module_dir,
                 "Where modules are stored (created 0700; default: a private directory, removed at exit)");
  std::size_t max_frame = o.server.frames.max_frame_size;
  app.add_option("--max-frame-size", max_frame, "Largest frame accepted, in bytes (default 64 MiB)")
      ->check(integer_in_range(64, static_cast<long long>(farm::kMaxFrameSizeLimit)));
  app.add_option("--max-in-flight", o.server.limits.max_tasks_in_flight,
                 "Tasks one connection may have in flight before the server stops reading it (default 1024)")
      ->check(integer_in_range(1, 1 << 24));
  long long handshake_ms = -1, idle_ms = -1, stall_ms = -1;
  app.add_option("--handshake-timeout-ms", handshake_ms, "From accept to the Welcome, TLS included (default 10000)")
      ->check(integer_in_range(1, 3600000));
  app.add_option("--idle-timeout-ms", idle_ms, "Close a connection with no task and no frame for this long; 0: never\n"
                                               "(default 300000)")
      ->check(integer_in_range(0, 86400000));
  app.add_option("--write-stall-timeout-ms", stall_ms,
                 "Close a connection whose client leaves its answers unread this long (default 10000)")
      ->check(integer_in_range(1, 3600000));
  bool no_inline = false;
  app.add_flag("--no-inline", no_inline, "Run every task on a worker, even those that may run inline");
  cli.add_reactor_options();
  if (auto status = cli.parse(argc, argv)) return std::unexpected(*status);
  o.runtime.reactor = cli.reactor_options();
  if (!o.runtime.reactor.log_level && std::getenv("RFARM_LOG") == nullptr)
    o.runtime.reactor.log_level = LogLevel::error;  // lfarm's default: quiet unless asked
  o.server.version = RFARM_VERSION;
  o.server.frames.max_frame_size = max_frame;
  o.server.inline_tasks = !no_inline;
  using std::chrono::milliseconds;
  if (handshake_ms >= 0) o.server.limits.handshake_timeout = milliseconds(handshake_ms);
  if (idle_ms >= 0) o.server.limits.idle_timeout = milliseconds(idle_ms);
  if (stall_ms >= 0) o.server.limits.write_stall_timeout = milliseconds(stall_ms);
  o.server.socket_mode = static_cast<unsigned>(std::stoul(socket_mode, nullptr, 8));
  for (long long uid : allow_uids) o.server.allowed_uids.push_back(static_cast<uid_t>(uid));

  if (listen_texts.empty()) listen_texts.push_back("tcp:127.0.0.1:11111");
  bool any_tls = false, any_authenticated = false;
  for (const std::string& text : listen_texts) {
    EndpointSpec spec = *EndpointSpec::parse(text);
    if (spec.transport == Transport::tcp && !is_loopback(spec.address) && !insecure_plaintext)
      return std::unexpected(cli.usage_error("--listen " + spec.to_string() +
                                             ": plaintext on a non-loopback address needs --insecure-plaintext"));
    any_tls = any_tls || spec.transport == Transport::tls;
    any_authenticated = any_authenticated || spec.transport != Transport::tcp;
    o.listen.push_back(spec);
  }
  if (!any_tls) {
    for (CLI::Option* option : {tls.certificate, tls.key, tls.ca, allow_subject, allow_any})
      if (option->count() > 0) return std::unexpected(cli.usage_error(option->get_name() + " is only for a tls: listener"));
  } else {
    if (o.tls.certificate_file.empty() || o.tls.key_file.empty())
      return std::unexpected(cli.usage_error("a tls: listener needs --tls-cert and --tls-key"));
    if (o.tls.ca_file.empty())
      return std::unexpected(cli.usage_error("a tls: listener needs --tls-ca: clients must present certificates"));
    if (o.server.allowed_subjects.empty() && !o.server.allow_any_subject)
      return std::unexpected(cli.usage_error("a tls: listener needs --allow-subject (or --allow-any-subject)"));
  }
  if (accept_modules->count() > 0 && !any_authenticated)
    return std::unexpected(cli.usage_error(
        "--accept-modules needs a tls: or unix: listener (plaintext tcp: clients cannot be authenticated)"));
  return o;
}

}  // namespace rfarm::tools

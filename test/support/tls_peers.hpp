// Real TLS peers for the tests: `openssl s_server`, `openssl s_client` and Python's ssl module, run as child
// processes with their stderr merged into stdout (so a test can assert on the reason a peer printed).
//
//     auto server = OpensslServer::start({"-cert", pki.server_cert, "-key", pki.server_key, "-rev"});
//     if (!server) GTEST_SKIP() << server.error().message();
//     connect to Address::loopback_v4(server->port) ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "test/support/child_process.hpp"

namespace rfarm::test {

// A child whose stderr goes to its stdout: `sh -c 'exec "$@" 2>&1' sh argv...`.
inline Result<ChildProcess> spawn_merged(const std::vector<std::string>& argv) {
  std::vector<std::string> full{"sh", "-c", "exec \"$@\" 2>&1", "sh"};
  full.insert(full.end(), argv.begin(), argv.end());
  return ChildProcess::spawn(full);
}

// Everything the child prints until it exits (bounded); the exit status in *status.
inline std::string read_all(ChildProcess& child, int* status = nullptr,
                            std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  std::string all;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (int lines = 0; lines < 10000; ++lines) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto line = child.read_line(left);
    if (!line) break;
    all += *line + "\n";
  }
  int s = child.wait(std::chrono::seconds(5));
  if (status) *status = s;
  return all;
}

// `openssl s_server` listening on 127.0.0.1, ephemeral port, with the given extra arguments.
struct OpensslServer {
  ChildProcess process;
  std::uint16_t port = 0;
  std::string startup;  // what it printed before ACCEPT

  static Result<OpensslServer> start(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"openssl", "s_server", "-accept", "127.0.0.1:0"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = spawn_merged(argv);
    if (!child) return fail(child.error());
    OpensslServer server{std::move(*child), 0, {}};
    for (int i = 0; i < 20; ++i) {
      auto line = server.process.read_line(std::chrono::seconds(10));
      if (!line) break;
      // "ACCEPT 127.0.0.1:41234" once it listens.
      if (line->rfind("ACCEPT ", 0) == 0) {
        auto colon = line->rfind(':');
        server.port = static_cast<std::uint16_t>(std::stoi(line->substr(colon + 1)));
        return server;
      }
      server.startup += *line + "\n";
    }
    return fail(std::make_error_code(std::errc::protocol_error));
  }
};

// `openssl s_client -connect 127.0.0.1:port` with extra arguments; stdin open for the test to write.
inline Result<ChildProcess> start_openssl_client(std::uint16_t port, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_merged(argv);
}

// python3 -c script args...; skips need `python3_has_ssl()` first.
inline Result<ChildProcess> start_python(const std::string& script, const std::vector<std::string>& args) {
  std::vector<std::string> argv{python3(), "-c", script};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_merged(argv);
}

inline bool python3_has_ssl() {
  static const bool ok = program_runs({python3(), "-c", "import ssl"});
  return ok;
}

}  // namespace rfarm::test

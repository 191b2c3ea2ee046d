// Farm administration as a library (lfarm's ping / end-server, and info), used by tools/farm-admin. Each call
// opens its own connection on a private reactor, says Hello, does its one thing and closes; every call is
// bounded by options.timeout.
//
//     auto pong = rfarm::farm::admin::ping("tcp:127.0.0.1:7000", {.timeout = 3s});   // keeps trying until then
//     if (pong) fmt::print("{} answered in {} us\n", pong->server_version, pong->round_trip.count() / 1000);
//     auto text = rfarm::farm::admin::info("tcp:127.0.0.1:7000");   // the server's info task, as JSON
//     auto ended = rfarm::farm::admin::end_server("tcp:127.0.0.1:7000");
//     admin::ping("tls:127.0.0.1:7443", {.tls = {.ca_file = "ca.pem", .certificate_file = "me.pem",
//                                                .key_file = "me.key"}});
//
// end_server: the server stops accepting connections; connections already open (a Kernel's) go on being
// served, and the process exits when the last one closes (lfarm's semantics; farm/PROTOCOL.md section 5).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "farm/client/farm_stream.hpp"
#include "farm/error.hpp"
#include "reactor/backend/backend_kind.hpp"

namespace rfarm::farm::admin {

using namespace std::chrono_literals;

struct AdminOptions {
  // The whole call; ping keeps trying (connection refused, no Welcome yet) until it passes.
  std::chrono::nanoseconds timeout = 3s;
  std::string client_name = "farm-admin";
  std::string auth_token;
  // For tls: servers: the CA, our certificate and key (the subject the server allows), the expected name.
  FarmTlsOptions tls{};
  BackendKind backend = BackendKind::automatic;
};

struct PingReply {
  std::chrono::nanoseconds round_trip{0};  // the Ping -> Pong exchange, after the handshake
  std::string server_version;
  std::uint32_t cores = 0;
  std::uint32_t workers = 0;
};

// Errors: the endpoint text (invalid_argument), Errc::timed_out when no server answered in time (with the last
// reason in the message), FarmErrc::handshake_refused with the server's reason, a TLS error (tls_category())
// when the TLS handshake failed (ping does not retry those: they are answers).
FarmResult<PingReply> ping(std::string_view spec, const AdminOptions& options = {});
FarmResult<void> end_server(std::string_view spec, const AdminOptions& options = {});
FarmResult<std::string> info(std::string_view spec, const AdminOptions& options = {});

}  // namespace rfarm::farm::admin

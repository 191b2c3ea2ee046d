// The handshake, as decisions over decoded frames (no I/O): the server's answer to a Hello, and the client's
// reading of the Welcome.
//
//     HandshakeDecision d = answer_hello(*hello, {.features = kAllFeatures, .required_auth_token = token});
//     encoder.welcome(out, {.accepted = d.accepted, .reason = d.reason, .features = d.features, ...});
//     if (!d.accepted) close_after_sending();
//
//     FarmResult<std::uint64_t> granted = check_welcome(*welcome);   // client: the granted features, or why not
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "farm/error.hpp"
#include "farm/protocol/wire.hpp"

namespace rfarm::farm {

struct ServerHandshake {
  std::uint64_t features = kAllFeatures;  // what this server supports
  std::string_view required_auth_token = {};   // empty: no authentication
};

struct HandshakeDecision {
  bool accepted = false;
  std::string reason;          // when refused, for Welcome.reason and the server's log
  std::uint64_t features = 0;  // granted: the client's bits the server supports
};

// Refuses another protocol version ("protocol version 2 is not supported; this server speaks 1") and a missing or
// wrong token (compared in constant time); grants the intersection of features.
HandshakeDecision answer_hello(const wire::Hello& hello, const ServerHandshake& server);

// The granted features of an accepting Welcome; a refusal is FarmErrc::handshake_refused with the server's reason.
FarmResult<std::uint64_t> check_welcome(const wire::Welcome& welcome);

}  // namespace rfarm::farm

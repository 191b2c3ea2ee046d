#include "farm/protocol/handshake.hpp"

#include <fmt/format.h>
#include <openssl/crypto.h>

namespace rfarm::farm {

HandshakeDecision answer_hello(const wire::Hello& hello, const ServerHandshake& server) {
  if (hello.protocol_version() != kProtocolVersion)
    return {false,
            fmt::format("protocol version {} is not supported; this server speaks version {}", hello.protocol_version(),
                        kProtocolVersion),
            0};
  if (!server.required_auth_token.empty()) {
    const flatbuffers::String* token = hello.auth_token();
    if (!token || token->size() == 0) return {false, "authentication required: this server needs a token", 0};
    // CRYPTO_memcmp: the time taken does not tell how much of the token matched.
    bool same = token->size() == server.required_auth_token.size() &&
                CRYPTO_memcmp(token->data(), server.required_auth_token.data(), token->size()) == 0;
    if (!same) return {false, "authentication failed: wrong token", 0};
  }
  return {true, {}, hello.features() & server.features};
}

FarmResult<std::uint64_t> check_welcome(const wire::Welcome& welcome) {
  if (!welcome.accepted()) {
    const flatbuffers::String* reason = welcome.reason();
    return fail_with(FarmErrc::handshake_refused,
                     fmt::format("the server refused the connection: {}", reason ? reason->str() : "no reason given"));
  }
  if (welcome.protocol_version() != kProtocolVersion)
    return fail_with(FarmErrc::handshake_refused,
                     fmt::format("the server speaks protocol version {}, this client {}", welcome.protocol_version(),
                                 kProtocolVersion));
  return welcome.features();
}

}  // namespace rfarm::farm

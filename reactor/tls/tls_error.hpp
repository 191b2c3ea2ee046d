// TLS failures as portable conditions, with OpenSSL's own reason kept in the error_code.
//
// A TLS error_code (tls_category()) packs two things: the TlsErrc condition it means (why, in rfarm's
// words) and the OpenSSL detail it came from (an X509_V_ERR_* verification result, or an OpenSSL library and
// reason code such as SSL_R_TLSV1_ALERT_UNKNOWN_CA). Compare against the condition, print the message:
//
//     if (ec == rfarm::TlsErrc::certificate_expired) ...
//     log.warn("handshake: {}", ec.message());   // "certificate expired: certificate has expired (X509_V_ERR 10)"
//
// Transport failures stay errno codes (ec == std::errc::connection_reset), a handshake deadline stays
// rfarm's Errc::timed_out (ec == std::errc::timed_out), a closed stream std::errc::operation_canceled.
#pragma once

#include <cstdint>
#include <system_error>

namespace rfarm {

enum class TlsErrc : int {
  handshake_failed = 1,       // the handshake failed for a reason none of the others names (see the message)
  certificate_expired,        // X509_V_ERR_CERT_HAS_EXPIRED, or the peer's "certificate expired" alert
  certificate_not_yet_valid,  // X509_V_ERR_CERT_NOT_YET_VALID
  unknown_ca,                 // the chain does not end at a trusted CA (or the peer's "unknown CA" alert)
  hostname_mismatch,          // the certificate names neither the host nor the IP address asked for
  certificate_revoked,        // the CRL lists the certificate (or the peer's "certificate revoked" alert)
  crl_unusable,               // CRL checking is on but no valid CRL covers the certificate
  bad_certificate,            // any other verification failure (bad signature, wrong purpose, ...)
  no_peer_certificate,        // the server requires a client certificate and none came
  protocol_version,           // no protocol version both sides accept (or the peer does not speak TLS)
  no_shared_cipher,           // no cipher both sides accept
  no_application_protocol,    // ALPN: no protocol both sides accept
  renegotiation_refused,      // the peer tried to renegotiate; rfarm refuses (SSL_OP_NO_RENEGOTIATION)
  truncated,                  // the stream ended without close_notify: data may have been cut off
  peer_alert,                 // the peer ended the session with another fatal alert
  protocol_error,             // malformed or unexpected records, a failed decryption (the peer is broken)
  invalid_configuration,      // TlsContext creation: unreadable file, bad PEM, key/certificate mismatch, ...
  invalid_state,              // an operation the stream's state does not allow (e.g. recv after a failure)
};

// The category of TLS error codes and of TlsErrc conditions.
const std::error_category& tls_category() noexcept;

inline std::error_condition make_error_condition(TlsErrc e) noexcept { return {static_cast<int>(e), tls_category()}; }

// Where the OpenSSL detail in a TLS error_code came from.
enum class TlsDetailSource : std::uint8_t {
  none = 0,
  x509_verify = 1,  // detail is an X509_V_ERR_* value (X509_verify_cert_error_string)
  openssl = 2,      // detail is an OpenSSL packed error (ERR_GET_LIB / ERR_GET_REASON)
};

// An error_code for condition e; detail as described by source (OpenSSL errors keep lib and reason only).
std::error_code make_tls_error(TlsErrc e, TlsDetailSource source = TlsDetailSource::none,
                               unsigned long detail = 0) noexcept;

// The condition a TLS error_code means; 0-valued TlsErrc{} if ec is not from tls_category().
TlsErrc tls_condition_of(const std::error_code& ec) noexcept;
// The X509_V_ERR_* value inside ec, or 0 (X509_V_OK) if it carries none.
int tls_verify_error_of(const std::error_code& ec) noexcept;
// The OpenSSL error (ERR_PACK(lib, 0, reason)) inside ec, or 0 if it carries none.
unsigned long tls_openssl_error_of(const std::error_code& ec) noexcept;

}  // namespace rfarm

template <>
struct std::is_error_condition_enum<rfarm::TlsErrc> : std::true_type {};

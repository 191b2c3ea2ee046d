#include "reactor/tls/tls_error.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <string>

#include "reactor/tls/tls_error_map.hpp"

namespace rfarm {
namespace {

// Value layout: bits 0-4 the TlsErrc, bits 5-6 the detail source, bits 7-30 the detail. An OpenSSL error
// keeps its library (7 bits), its reason flags (5 bits, ERR_RFLAG_*) and the low 12 bits of its reason:
// every SSL_R_*, X509_R_*, PEM_R_* reason and every errno fits.
constexpr int kSourceShift = 5;
constexpr int kDetailShift = 7;
constexpr int kKindMask = 0x1f;
constexpr unsigned long kDetailMask = 0xffffff;

unsigned long compress_openssl(unsigned long err) noexcept {
  unsigned long lib = static_cast<unsigned long>(ERR_GET_LIB(err)) & 0x7f;
  unsigned long reason = static_cast<unsigned long>(ERR_GET_REASON(err));
  return (lib << 17) | (((reason >> 18) & 0x1f) << 12) | (reason & 0xfff);
}

unsigned long expand_openssl(unsigned long detail) noexcept {
  unsigned long lib = detail >> 17;
  unsigned long reason = (detail & 0xfff) | (((detail >> 12) & 0x1f) << 18);
  return ERR_PACK(lib, 0, reason);
}

const char* describe(TlsErrc e) noexcept {
  switch (e) {
    case TlsErrc::handshake_failed: return "TLS handshake failed";
    case TlsErrc::certificate_expired: return "certificate expired";
    case TlsErrc::certificate_not_yet_valid: return "certificate not yet valid";
    case TlsErrc::unknown_ca: return "certificate issued by an unknown CA";
    case TlsErrc::hostname_mismatch: return "certificate does not match the host name";
    case TlsErrc::certificate_revoked: return "certificate revoked";
    case TlsErrc::crl_unusable: return "no usable CRL for the certificate";
    case TlsErrc::bad_certificate: return "certificate rejected";
    case TlsErrc::no_peer_certificate: return "peer sent no certificate";
    case TlsErrc::protocol_version: return "no common TLS protocol version";
    case TlsErrc::no_shared_cipher: return "no common cipher";
    case TlsErrc::no_application_protocol: return "no common application protocol (ALPN)";
    case TlsErrc::renegotiation_refused: return "peer attempted renegotiation, which is refused";
    case TlsErrc::truncated: return "TLS stream truncated (closed without close_notify)";
    case TlsErrc::peer_alert: return "peer sent a fatal alert";
    case TlsErrc::protocol_error: return "TLS protocol error";
    case TlsErrc::invalid_configuration: return "invalid TLS configuration";
    case TlsErrc::invalid_state: return "operation not allowed in the TLS stream's state";
  }
  return "unknown TLS error";
}

std::string openssl_text(unsigned long err) {
  int lib = ERR_GET_LIB(err);
  int reason = ERR_GET_REASON(err);
  if (lib == ERR_LIB_SYS) return std::system_category().message(reason);
  const char* text = ERR_reason_error_string(err);
  const char* lib_text = ERR_lib_error_string(err);
  std::string out = text ? text : "reason " + std::to_string(reason);
  if (lib_text) out += std::string(" (") + lib_text + ")";
  return out;
}

class TlsCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }

  std::string message(int value) const override {
    auto kind = static_cast<TlsErrc>(value & kKindMask);
    auto source = static_cast<TlsDetailSource>((value >> kSourceShift) & 0x3);
    unsigned long detail = static_cast<unsigned long>(value) >> kDetailShift;
    std::string text = describe(kind);
    if (source == TlsDetailSource::x509_verify) {
      long v = static_cast<long>(detail);
      text += std::string(": ") + X509_verify_cert_error_string(v) + " (X509_V_ERR " + std::to_string(v) + ")";
    } else if (source == TlsDetailSource::openssl) {
      text += ": " + openssl_text(expand_openssl(detail));
    }
    return text;
  }

  // A code means its condition: ec == TlsErrc::unknown_ca whatever OpenSSL detail ec carries.
  std::error_condition default_error_condition(int value) const noexcept override { return {value & kKindMask, *this}; }
};

TlsErrc kind_of_verify(long v) noexcept {
  switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return TlsErrc::certificate_expired;
    case X509_V_ERR_CERT_NOT_YET_VALID: return TlsErrc::certificate_not_yet_valid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED: return TlsErrc::unknown_ca;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH: return TlsErrc::hostname_mismatch;
    case X509_V_ERR_CERT_REVOKED: return TlsErrc::certificate_revoked;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
    case X509_V_ERR_CRL_PATH_VALIDATION_ERROR: return TlsErrc::crl_unusable;
    default: return TlsErrc::bad_certificate;
  }
}

TlsErrc kind_of_ssl_reason(int reason) noexcept {
  switch (reason) {
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED: return TlsErrc::certificate_expired;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA: return TlsErrc::unknown_ca;
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED: return TlsErrc::certificate_revoked;
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED: return TlsErrc::bad_certificate;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_NO_CERTIFICATE: return TlsErrc::no_peer_certificate;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_BAD_PROTOCOL_VERSION_NUMBER:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_INAPPROPRIATE_FALLBACK:
    case SSL_R_TLSV1_ALERT_INAPPROPRIATE_FALLBACK:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST: return TlsErrc::protocol_version;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_CIPHERS_AVAILABLE:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY: return TlsErrc::no_shared_cipher;
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL: return TlsErrc::no_application_protocol;
    case SSL_R_NO_RENEGOTIATION:
    case SSL_R_TLSV1_ALERT_NO_RENEGOTIATION: return TlsErrc::renegotiation_refused;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING: return TlsErrc::truncated;
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE: return TlsErrc::handshake_failed;
    case SSL_R_DECRYPTION_FAILED:
    case SSL_R_DECRYPTION_FAILED_OR_BAD_RECORD_MAC:
    case SSL_R_BAD_RECORD_TYPE:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_MESSAGE:
    case SSL_R_UNEXPECTED_RECORD: return TlsErrc::protocol_error;
    default:
      // Every other alert the peer sent us (SSL_R_* = SSL_AD_REASON_OFFSET + alert number).
      if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) return TlsErrc::peer_alert;
      return TlsErrc::handshake_failed;
  }
}

}  // namespace

const std::error_category& tls_category() noexcept {
  static const TlsCategory category;  // immutable after construction
  return category;
}

std::error_code make_tls_error(TlsErrc e, TlsDetailSource source, unsigned long detail) noexcept {
  unsigned long packed = 0;
  if (source == TlsDetailSource::x509_verify) packed = detail & kDetailMask;
  if (source == TlsDetailSource::openssl) packed = compress_openssl(detail);
  unsigned long value =
      static_cast<unsigned long>(e) | (static_cast<unsigned long>(source) << kSourceShift) | (packed << kDetailShift);
  return {static_cast<int>(value), tls_category()};
}

TlsErrc tls_condition_of(const std::error_code& ec) noexcept {
  if (ec.category() != tls_category()) return TlsErrc{};
  return static_cast<TlsErrc>(ec.value() & kKindMask);
}

int tls_verify_error_of(const std::error_code& ec) noexcept {
  if (ec.category() != tls_category()) return 0;
  if (((ec.value() >> kSourceShift) & 0x3) != static_cast<int>(TlsDetailSource::x509_verify)) return 0;
  return ec.value() >> kDetailShift;
}

unsigned long tls_openssl_error_of(const std::error_code& ec) noexcept {
  if (ec.category() != tls_category()) return 0;
  if (((ec.value() >> kSourceShift) & 0x3) != static_cast<int>(TlsDetailSource::openssl)) return 0;
  return expand_openssl(static_cast<unsigned long>(ec.value()) >> kDetailShift);
}

namespace detail {

std::error_code tls_error_from_verify(long verify_result) noexcept {
  return make_tls_error(kind_of_verify(verify_result), TlsDetailSource::x509_verify,
                        static_cast<unsigned long>(verify_result));
}

std::error_code tls_error_from_openssl(unsigned long err) noexcept {
  TlsErrc kind = ERR_GET_LIB(err) == ERR_LIB_SSL ? kind_of_ssl_reason(ERR_GET_REASON(err)) : TlsErrc::handshake_failed;
  return make_tls_error(kind, TlsDetailSource::openssl, err);
}

std::error_code tls_config_error() noexcept {
  unsigned long err = ERR_peek_error();
  ERR_clear_error();
  if (err == 0) return make_tls_error(TlsErrc::invalid_configuration);
  return make_tls_error(TlsErrc::invalid_configuration, TlsDetailSource::openssl, err);
}

std::error_code tls_error_after_failure(const SSL* ssl) noexcept {
  unsigned long err = ERR_peek_error();
  ERR_clear_error();
  if (err != 0 && ERR_GET_LIB(err) == ERR_LIB_SSL && ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) return tls_error_from_verify(verify);
  }
  if (err == 0) return make_tls_error(TlsErrc::handshake_failed);
  return tls_error_from_openssl(err);
}

}  // namespace detail
}  // namespace rfarm

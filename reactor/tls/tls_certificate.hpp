// TlsCertificateInfo: what a certificate says, decoded once into plain values (no OpenSSL types to free).
//
//     auto cert = tls.peer_certificate();            // after the handshake
//     if (cert && cert->subject_field("CN") == "db.internal") ...
//     std::string fp = cert->sha256_hex();           // "ab:cd:...", as `openssl x509 -fingerprint -sha256`
#pragma once

#include <openssl/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lib/error.hpp"

namespace rfarm {

// One attribute of a distinguished name: field is OpenSSL's short name ("CN", "O", "OU", "C", ...) or the
// dotted OID when it has none; value is UTF-8.
struct TlsNameEntry {
  std::string field;
  std::string value;
};

struct TlsCertificateInfo {
  std::vector<TlsNameEntry> subject;  // in certificate order
  std::vector<TlsNameEntry> issuer;
  std::string subject_text;  // RFC 2253 form: "CN=localhost,O=rfarm test"
  std::string issuer_text;
  std::string serial_hex;  // upper-case hex, no separators ("1000", "0A1B...")
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  std::array<std::uint8_t, 32> sha256{};  // SHA-256 of the DER encoding
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries, as text ("127.0.0.1", "::1")

  // The first value of field in the subject (empty if absent).
  std::string_view subject_field(std::string_view field) const noexcept;
  std::string_view issuer_field(std::string_view field) const noexcept;
  // "AB:CD:..." (upper-case hex pairs), the format of `openssl x509 -fingerprint -sha256`.
  std::string sha256_hex() const;

  // Decodes a certificate; describe() never takes ownership.
  static Result<TlsCertificateInfo> describe(X509* certificate);
  // The first certificate of a PEM file (handy to compare with what a peer presented).
  static Result<TlsCertificateInfo> from_pem_file(const std::string& path);
};

}  // namespace rfarm
